import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * What the harness records outside the system under test, one JSON line per event, one file per
 * process (appends of one line are atomic enough for a single writer). `id` is the harness' own id
 * of a task (carried in the task's arguments), so it survives retries and redeliveries.
 */
export type JournalEvent =
  | { e: "attempt"; id: string; ts: number }
  | { e: "acked"; id: string; uuid: string; ts: number }
  | { e: "rejected"; id: string; ts: number; error: string }
  | { e: "start"; id: string; uuid: string; pid: number; attempt: number; ts: number }
  | { e: "end"; id: string; uuid: string; pid: number; attempt: number; ts: number };

export class Journal {
  readonly file: string;

  constructor(dir: string, name: string) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `${name}.jsonl`);
  }

  record(event: JournalEvent): void {
    appendFileSync(this.file, `${JSON.stringify(event)}\n`);
  }
}

/** Every event of every journal file in `dir` (a torn last line of a killed process is skipped). */
export function readJournals(dir: string): JournalEvent[] {
  if (!existsSync(dir)) return [];
  const out: JournalEvent[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith(".jsonl")) continue;
    for (const line of readFileSync(join(dir, f), "utf8").split("\n")) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as JournalEvent);
      } catch {
        // A process killed mid-write leaves a partial line: it recorded nothing complete.
      }
    }
  }
  return out;
}

import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Accounting } from "./checker";

const resultsDir = fileURLToPath(new URL("../results/", import.meta.url));
const file = join(resultsDir, "report.jsonl");

/** One row of the report: a scenario on one backend. */
export interface ReportRow extends Partial<Omit<Accounting, "lostIds">> {
  scenario: string;
  backend: string;
  notes?: string;
}

export function recordRow(row: ReportRow): void {
  mkdirSync(resultsDir, { recursive: true });
  appendFileSync(file, `${JSON.stringify(row)}\n`);
}

export function resetReport(): void {
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(file, "");
}

/** The report as a table (one line per scenario and backend). */
export function formatReport(): string {
  if (!existsSync(file)) return "(no reliability results)";
  const rows = readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ReportRow);
  // Scenarios in their numeric order ("2 sigterm" before "10 oversized").
  const num = (r: ReportRow) => Number.parseInt(r.scenario, 10);
  rows.sort((a, b) => num(a) - num(b) || a.backend.localeCompare(b.backend));
  const cols = [
    "attempted",
    "acknowledged",
    "executions",
    "lost",
    "unexpected",
    "stuck",
    "duplicates",
    "overlaps",
  ] as const;
  const head = ["scenario", "backend", ...cols, "notes"];
  const lines = rows.map((r) => [
    r.scenario,
    r.backend,
    ...cols.map((c) => (r[c] === undefined ? "-" : String(r[c]))),
    r.notes ?? "",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [fmt(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...lines.map(fmt)].join("\n");
}

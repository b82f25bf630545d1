import { TASK_STATUSES, type TaskStatus, type WorkerInfo } from "@qtasks/core";
import type { Command } from "../args";
import { query } from "../connect";
import { type AppDescription, componentLabel, describeApp } from "../describe";
import { type CliIo, toJson } from "../io";
import { withConnectedApp } from "./shared";

type StatsCommand = Extract<Command, { name: "stats" }>;

/** What `qtasks stats --json` prints. Fields a broker cannot know are absent. */
export interface StatsReport {
  app: string;
  broker: AppDescription["broker"];
  storage: AppDescription["storage"];
  globalConfig: AppDescription["globalConfig"];
  queue: {
    /** Ready envelopes by priority (keys are priorities, highest first in text output). */
    ready: Record<string, number>;
    readyTotal: number;
    delayed?: number;
    inFlight?: number;
    deadLetters?: number;
  };
  statuses: Record<TaskStatus, number>;
  workers: (WorkerInfo & { heartbeatAgeSeconds: number; uptimeSeconds: number })[];
}

export async function statsCommand(cmd: StatsCommand, io: CliIo): Promise<number> {
  const report = await withConnectedApp(cmd, io, async (app) => {
    const stats = await query(app, cmd.connectTimeout, () => app.stats());
    const d = describeApp(app);
    const now = Date.now();
    const ready: Record<string, number> = {};
    for (const [p, n] of Object.entries(stats.broker.ready)) if (n > 0) ready[p] = n;
    const out: StatsReport = {
      app: d.app,
      broker: d.broker,
      storage: d.storage,
      globalConfig: d.globalConfig,
      queue: { ready, readyTotal: Object.values(ready).reduce((a, b) => a + b, 0) },
      statuses: stats.statuses,
      workers: stats.workers
        .map((w) => ({
          ...w,
          heartbeatAgeSeconds: round((now - +new Date(w.heartbeatAt)) / 1000),
          uptimeSeconds: round((now - +new Date(w.startedAt)) / 1000),
        }))
        .sort((a, b) => a.id.localeCompare(b.id)),
    };
    if (stats.broker.delayed !== undefined) out.queue.delayed = stats.broker.delayed;
    if (stats.broker.inFlight !== undefined) out.queue.inFlight = stats.broker.inFlight;
    if (stats.broker.deadLetters !== undefined) out.queue.deadLetters = stats.broker.deadLetters;
    return out;
  });
  io.stdout.write(cmd.json ? `${toJson(report)}\n` : formatStats(report));
  return 0;
}

export function formatStats(r: StatsReport): string {
  const lines: string[] = [];
  lines.push(
    `app ${r.app}: broker ${componentLabel(r.broker)}, storage ${componentLabel(r.storage)}, global config ${componentLabel(r.globalConfig)}`,
  );
  lines.push("", "queue");
  const byPriority = Object.entries(r.queue.ready)
    .sort(([a], [b]) => Number(b) - Number(a))
    .map(([p, n]) => `priority ${p}: ${n}`)
    .join(", ");
  lines.push(`  ready         ${r.queue.readyTotal}${byPriority ? `  (${byPriority})` : ""}`);
  lines.push(`  delayed       ${r.queue.delayed ?? "n/a"}`);
  lines.push(`  in flight     ${r.queue.inFlight ?? "n/a"}`);
  lines.push(`  dead letters  ${r.queue.deadLetters ?? "n/a"}`);
  lines.push("", "statuses");
  for (const s of TASK_STATUSES) lines.push(`  ${s.padEnd(12)}  ${r.statuses[s] ?? 0}`);
  lines.push("", `workers (${r.workers.length} live)`);
  for (const w of r.workers)
    lines.push(
      `  ${w.id}  running ${w.running}/${w.concurrency}  heartbeat ${w.heartbeatAgeSeconds}s ago  up ${duration(w.uptimeSeconds)}`,
    );
  return `${lines.join("\n")}\n`;
}

function round(s: number): number {
  return Math.max(0, Math.round(s * 10) / 10);
}

function duration(s: number): string {
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

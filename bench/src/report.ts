import type { RunResult } from "./scenarios";
import { median } from "./stats";
import type { ScenarioId, Service, Subject } from "./types";

export interface Summary {
  subject: string;
  scenario: ScenarioId;
  runs: number;
  /** Median of the runs' rates (tasks/s). */
  rate: number;
  latencyMs?: { p50: number; p95: number; p99: number };
  timedOut: boolean;
  /** Every run passed the exactly-once / final-status check (undefined where there is no check). */
  checkOk?: boolean;
  nodeCpuPct: number;
  serviceCpuPct: number | null;
  errors: string[];
}

export function summarize(results: RunResult[]): Summary[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const k = `${r.subject}\u0000${r.scenario}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const out: Summary[] = [];
  for (const rs of groups.values()) {
    const ok = rs.filter((r) => !r.error);
    const checks = ok.filter((r) => r.check);
    const lat = ok.filter((r) => r.latencyMs);
    out.push({
      subject: rs[0]!.subject,
      scenario: rs[0]!.scenario,
      runs: ok.length,
      rate: median(ok.map((r) => r.rate)),
      ...(lat.length
        ? {
            latencyMs: {
              p50: median(lat.map((r) => r.latencyMs!.p50)),
              p95: median(lat.map((r) => r.latencyMs!.p95)),
              p99: median(lat.map((r) => r.latencyMs!.p99)),
            },
          }
        : {}),
      timedOut: ok.some((r) => r.timedOut),
      ...(checks.length ? { checkOk: checks.every((r) => r.check!.ok) && checks.length === rs.length } : {}),
      nodeCpuPct: median(ok.map((r) => r.cpu.nodePct)),
      serviceCpuPct: ok.some((r) => r.cpu.servicePct !== null)
        ? median(ok.map((r) => r.cpu.servicePct ?? 0))
        : null,
      errors: rs.filter((r) => r.error).map((r) => r.error!),
    });
  }
  return out;
}

const COLUMNS: { id: ScenarioId; title: string }[] = [
  { id: "enqueue-single", title: "enqueue 1 by 1 (/s)" },
  { id: "enqueue-bulk", title: "bulk enqueue (/s)" },
  { id: "drain-c1", title: "drain c=1 (/s)" },
  { id: "drain-c50", title: "drain c=50 (/s)" },
  { id: "latency", title: "latency p50 / p95 / p99 (ms)" },
];

const LIMIT_OF: Record<Service, string> = {
  redis: "limit-redis",
  postgres: "limit-postgres",
  rabbitmq: "limit-rabbitmq",
};

const fmtRate = (v: number) =>
  !Number.isFinite(v) ? "-" : v >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(1);
const fmtMs = (v: number) => (!Number.isFinite(v) ? "-" : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const fmtRatio = (v: number) =>
  !Number.isFinite(v) ? "" : v >= 10 ? `${v.toFixed(0)}x` : `${v.toFixed(2)}x`;
const fmtPct = (v: number) => (!Number.isFinite(v) ? "" : `${Math.round(v * 100)}%`);

/**
 * The one table: configuration x scenario. Each cell holds the median, then its ratio to BullMQ
 * ("B", >1 means better than BullMQ) and its fraction of the bare-client limit of the slowest
 * service the configuration uses ("L").
 */
export function table(subjects: Subject[], sums: Summary[]): string {
  const get = (s: string, sc: ScenarioId) => sums.find((x) => x.subject === s && x.scenario === sc);
  const better = (sc: ScenarioId, ours: Summary, theirs: Summary | undefined) => {
    if (!theirs || theirs.runs === 0) return Number.NaN;
    return sc === "latency" ? theirs.latencyMs!.p99 / ours.latencyMs!.p99 : ours.rate / theirs.rate;
  };
  const limitFor = (subject: Subject, sc: ScenarioId): Summary | undefined => {
    if (subject.kind === "limit" || subject.services.length === 0) return undefined;
    const limits = subject.services.map((s) => get(LIMIT_OF[s], sc)).filter((x): x is Summary => !!x?.runs);
    if (limits.length !== subject.services.length) return undefined;
    // The slowest service bounds the configuration.
    return sc === "latency"
      ? limits.reduce((a, b) => (a.latencyMs!.p99 >= b.latencyMs!.p99 ? a : b))
      : limits.reduce((a, b) => (a.rate <= b.rate ? a : b));
  };
  const head = ["configuration", ...COLUMNS.map((c) => c.title), "CPU node / service, c=50", "check"];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const subject of subjects) {
    const cells: string[] = [subject.label];
    let checks: (boolean | undefined)[] = [];
    let incomplete = false;
    for (const col of COLUMNS) {
      const s = get(subject.id, col.id);
      if (!s || s.runs === 0) {
        cells.push(s?.errors.length ? "error" : "-");
        if (s?.errors.length) checks = [...checks, false];
        continue;
      }
      checks = [...checks, s.checkOk];
      if (s.timedOut) incomplete = true;
      const value =
        col.id === "latency"
          ? `${fmtMs(s.latencyMs!.p50)} / ${fmtMs(s.latencyMs!.p95)} / ${fmtMs(s.latencyMs!.p99)}`
          : `${s.timedOut ? "<" : ""}${fmtRate(s.rate)}`;
      const notes: string[] = [];
      if (subject.id !== "bullmq") {
        const b = better(col.id, s, get("bullmq", col.id));
        if (Number.isFinite(b)) notes.push(`${fmtRatio(b)} B`);
      }
      const lim = limitFor(subject, col.id);
      if (lim) notes.push(`${fmtPct(better(col.id, s, lim))} L`);
      cells.push(notes.length ? `${value} (${notes.join(", ")})` : value);
    }
    const c50 = get(subject.id, "drain-c50");
    cells.push(
      c50?.runs
        ? `${Math.round(c50.nodeCpuPct)}% / ${c50.serviceCpuPct === null ? "-" : `${Math.round(c50.serviceCpuPct)}%`}`
        : "-",
    );
    const known = checks.filter((c) => c !== undefined);
    cells.push(
      known.length === 0 ? "-" : !known.every(Boolean) ? "FAIL" : incomplete ? "ok (timeouts)" : "ok",
    );
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

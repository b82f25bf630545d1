import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { summarize, table } from "./report";
import { type RunResult, runScenario, type Settings } from "./scenarios";
import { beeQueue } from "./subjects/bee-queue";
import { bullmq } from "./subjects/bullmq";
import { graphileWorker, graphileWorkerBatched } from "./subjects/graphile-worker";
import { amqpEnvelopeLimit, amqpLimit, amqpPriorityLimit } from "./subjects/limit-amqp";
import { pgLimit } from "./subjects/limit-pg";
import { redisLimit } from "./subjects/limit-redis";
import { pgBoss } from "./subjects/pg-boss";
import { qtasksSubjects } from "./subjects/qtasks";
import type { ScenarioId, Subject } from "./types";

process.env.QTASKS_LOG_LEVEL ??= "error";

const HELP = `pnpm bench [options]   (every option also reads an env var)
  --n N               tasks per scenario (BENCH_N, default 20000)
  --runs R            runs per scenario; the median is reported (BENCH_RUNS, default 3)
  --latency-n N       tasks in the latency scenario (BENCH_LATENCY_N, default min(n, 5000))
  --rate R            tasks/s in the latency scenario (BENCH_RATE, default 500)
  --bulk-chunk K      tasks per bulk call (BENCH_BULK_CHUNK, default 1000)
  --timeout S         seconds per scenario run before it is cut (BENCH_TIMEOUT, default 60)
  --max-minutes M     the whole run stops starting scenarios after M minutes (BENCH_MAX_MINUTES, default 40)
  --only a,b          subject ids to run (BENCH_ONLY), e.g. qtasks-memory,bullmq,limit-redis
  --scenarios a,b     scenario ids (BENCH_SCENARIOS): ${["enqueue-single", "enqueue-bulk", "drain-c1", "drain-c50", "latency"].join(",")}`;

function arg(flag: string, env: string): string | undefined {
  const k = process.argv.indexOf(flag);
  if (k >= 0) return process.argv[k + 1];
  return process.env[env];
}
function num(flag: string, env: string, dflt: number): number {
  const v = arg(flag, env);
  if (v === undefined || v === "") return dflt;
  const x = Number(v);
  if (!Number.isFinite(x) || x <= 0) throw new Error(`${flag} must be a positive number, got ${v}`);
  return x;
}

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log(HELP);
  process.exit(0);
}

const n = Math.floor(num("--n", "BENCH_N", 20_000));
const runs = Math.floor(num("--runs", "BENCH_RUNS", 3));
const settings: Settings = {
  n,
  latencyN: Math.floor(num("--latency-n", "BENCH_LATENCY_N", Math.min(n, 5000))),
  latencyRate: num("--rate", "BENCH_RATE", 500),
  latencyConcurrency: 50,
  bulkChunk: Math.floor(num("--bulk-chunk", "BENCH_BULK_CHUNK", 1000)),
  timeoutMs: num("--timeout", "BENCH_TIMEOUT", 60) * 1000,
};
const maxMs = num("--max-minutes", "BENCH_MAX_MINUTES", 40) * 60_000;
const only = arg("--only", "BENCH_ONLY")?.split(",").filter(Boolean);
const allScenarios: ScenarioId[] = ["enqueue-single", "enqueue-bulk", "drain-c1", "drain-c50", "latency"];
const scenarios = (arg("--scenarios", "BENCH_SCENARIOS")?.split(",").filter(Boolean) ??
  allScenarios) as ScenarioId[];
for (const s of scenarios) if (!allScenarios.includes(s)) throw new Error(`unknown scenario ${s}`);

const everySubject: Subject[] = [
  ...qtasksSubjects,
  bullmq,
  beeQueue,
  pgBoss,
  graphileWorker,
  graphileWorkerBatched,
  redisLimit,
  amqpLimit,
  amqpPriorityLimit,
  amqpEnvelopeLimit,
  pgLimit,
];

const RESULTS = resolve(dirname(fileURLToPath(import.meta.url)), "../results");
const startedAt = new Date();
const runId = Math.random().toString(36).slice(2, 8);
const results: RunResult[] = [];
const absent: { id: string; label: string; reason: string }[] = [];
let subjects: Subject[] = [];
let cutShort = false;

const cores = os.cpus().length;
const loadAtStart = os.loadavg();
const machine = `${cores} cores (${os.cpus()[0]?.model.trim() ?? "unknown CPU"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;

function output(): string {
  const sums = summarize(results);
  const shown = subjects.filter((s) => sums.some((x) => x.subject === s.id));
  const lines = [
    `qtasks bench, ${startedAt.toISOString()}: N = ${n} tasks (latency: ${settings.latencyN} at ${settings.latencyRate}/s, concurrency ${settings.latencyConcurrency}), median of ${runs} run(s), payload { i }, no-op async handler.`,
    `Machine: ${machine}. The machine has ${cores} cores: the node process (producer and workers, all in ONE process) and the services share them.`,
    `Load average (1 min) at start ${loadAtStart[0]!.toFixed(2)}, at end ${os.loadavg()[0]!.toFixed(2)}: anything else running on the machine (or using the same services) is in these figures.`,
    "",
    table(shown, sums),
    "",
    "B: ratio to BullMQ (above 1 = better: higher rate, or lower p99 for latency). L: share of the bare-client limit of the slowest service the configuration uses (latency: limit p99 / ours). '<' = the run hit the per-scenario timeout; the rate is what got done before it. CPU: % of one core, median over runs of the c=50 drain, for the node process / for all processes of the services used (redis-server, postgres, beam.smp).",
    "",
    "Settings:",
    ...shown.map((s) => `- ${s.label}: ${s.settings}`),
  ];
  if (absent.length) lines.push("", "Absent:", ...absent.map((a) => `- ${a.label}: ${a.reason}`));
  const errors = sums.filter((s) => s.errors.length);
  if (errors.length)
    lines.push("", "Errors:", ...errors.map((s) => `- ${s.subject} ${s.scenario}: ${s.errors[0]}`));
  const fails = results.filter((r) => r.check && !r.check.ok);
  if (fails.length)
    lines.push(
      "",
      "Failed checks:",
      ...fails.map(
        (r) =>
          `- ${r.subject} ${r.scenario} run ${r.run}: ran once ${r.check!.once}, more than once ${r.check!.twice}, never ${r.check!.never}, final ${r.check!.final}/${r.n}, states ${JSON.stringify(r.check!.states)}`,
      ),
    );
  if (cutShort)
    lines.push(
      "",
      stopRequested
        ? "The run was stopped by Ctrl-C: some scenarios have fewer runs."
        : `The run hit --max-minutes (${maxMs / 60_000}) and stopped early: some scenarios have fewer runs.`,
    );
  return lines.join("\n");
}

function save(text: string): string {
  mkdirSync(RESULTS, { recursive: true });
  const file = resolve(RESULTS, `bench-${startedAt.toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        machine: {
          cores,
          cpu: os.cpus()[0]?.model,
          memGiB: os.totalmem() / 2 ** 30,
          node: process.version,
          loadavgStart: loadAtStart,
          loadavgEnd: os.loadavg(),
        },
        settings: { ...settings, runs, scenarios, workers: "same process as the producer" },
        subjects: subjects.map(({ id, label, kind, services, settings }) => ({
          id,
          label,
          kind,
          services,
          settings,
        })),
        absent,
        summary: summarize(results),
        results,
        table: text,
      },
      null,
      2,
    )}\n`,
  );
  return file;
}

// The whole run exits by itself even if a library hangs somewhere we do not time out.
const hardStop = setTimeout(
  () => {
    console.error("bench: hard time limit reached, printing what was measured");
    const text = output();
    console.log(`\n${text}`);
    console.log(`\nraw figures: ${save(text)}`);
    process.exit(2);
  },
  maxMs + 5 * 60_000,
);
hardStop.unref();

// Ctrl-C: finish (and clean up) the scenario that is running, print the table, exit.
let stopRequested = false;
process.once("SIGINT", () => {
  stopRequested = true;
  console.error("bench: stopping after this scenario run (Ctrl-C again to quit at once, leaving its data)");
  process.once("SIGINT", () => process.exit(130));
});

async function main() {
  console.log(`bench ${runId}: ${machine}`);
  for (const s of everySubject) {
    if (only && !only.includes(s.id)) continue;
    const reason = await s.available().catch((e: Error) => e.message);
    if (reason) absent.push({ id: s.id, label: s.label, reason });
    else subjects.push(s);
  }
  subjects = subjects.filter(Boolean);
  for (const a of absent) console.log(`absent: ${a.label}: ${a.reason}`);
  const t0 = performance.now();
  let seq = 0;
  // Scenario-major inside each run: every subject meets a scenario within the same few minutes,
  // so a change in the machine's load hits them alike.
  outer: for (let run = 1; run <= runs; run++) {
    for (const scenario of scenarios) {
      for (const subject of subjects) {
        if (stopRequested || performance.now() - t0 > maxMs) {
          cutShort = true;
          break outer;
        }
        const tag = `${runId}${(seq++).toString(36)}`;
        const r = await runScenario(subject, scenario, settings, tag, run);
        results.push(r);
        const what = r.error
          ? `ERROR ${r.error}`
          : `${Math.round(r.rate)}/s${r.timedOut ? ` (TIMEOUT at ${r.done}/${r.n})` : ""}${r.latencyMs ? ` p50 ${r.latencyMs.p50.toFixed(1)} p95 ${r.latencyMs.p95.toFixed(1)} p99 ${r.latencyMs.p99.toFixed(1)} ms` : ""}${r.check ? (r.check.ok ? " check ok" : ` CHECK FAILED ${JSON.stringify(r.check)}`) : ""} cpu ${Math.round(r.cpu.nodePct)}%/${r.cpu.servicePct === null ? "-" : `${Math.round(r.cpu.servicePct)}%`}`;
        console.log(`[run ${run}/${runs}] ${subject.id} ${scenario}: ${what}`);
      }
    }
  }
  const text = output();
  console.log(`\n${text}`);
  console.log(`\nraw figures: ${save(text)}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

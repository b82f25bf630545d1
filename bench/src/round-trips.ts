/**
 * Counts the Redis commands each Redis-backed subject sends per task (enqueue one by one, then a
 * drain), with MONITOR, so the round trips behind the throughput figures can be checked. Commands
 * run inside a Lua script are listed apart: they cost Redis time but no round trip.
 *
 *   pnpm --filter @qtasks/bench round-trips [--n 200] [--concurrency 1]
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { REDIS_URL, sleep } from "./env";
import { beeQueue } from "./subjects/bee-queue";
import { bullmq } from "./subjects/bullmq";
import { redisLimit } from "./subjects/limit-redis";
import { qtasksSubjects } from "./subjects/qtasks";

process.env.QTASKS_LOG_LEVEL ??= "error";

function arg(flag: string, dflt: number): number {
  const k = process.argv.indexOf(flag);
  return k >= 0 ? Number(process.argv[k + 1]) : dflt;
}
const n = arg("--n", 200);
const concurrency = arg("--concurrency", 1);
const subjects = [
  ...qtasksSubjects.filter((s) => s.services.includes("redis")),
  bullmq,
  beeQueue,
  redisLimit,
];

for (const subject of subjects) {
  const reason = await subject.available();
  if (reason) {
    console.log(`${subject.label}: absent (${reason})`);
    continue;
  }
  const tag = `rt${Math.random().toString(36).slice(2, 8)}`;
  const inst = await subject.create(tag);
  // redis-cli rather than ioredis's monitor(): the latter trips over clients that connect meanwhile.
  const monitor = spawn("redis-cli", ["-u", REDIS_URL, "monitor"], { stdio: ["ignore", "pipe", "ignore"] });
  const counts: Record<string, Record<string, number>> = { enqueue: {}, drain: {} };
  let phase: string | undefined;
  createInterface({ input: monitor.stdout }).on("line", (line) => {
    // 1796007123.231993 [0 127.0.0.1:44008] "evalsha" "..." | [0 lua] "zadd" ...
    const m = /^\S+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
    if (!phase || !m || !line.includes(tag)) return;
    const k = m[1] === "lua" ? `(in a script) ${m[2]!.toLowerCase()}` : m[2]!.toLowerCase();
    counts[phase]![k] = (counts[phase]![k] ?? 0) + 1;
  });
  await sleep(500);
  phase = "enqueue";
  for (let i = 0; i < n; i++) await inst.add(i);
  await sleep(200);
  phase = "drain";
  await inst.startWorker(concurrency, () => {});
  while ((await inst.finalCount()) < n) await sleep(20);
  await sleep(200);
  phase = undefined;
  monitor.kill();
  await inst.close();
  for (const p of ["enqueue", "drain"]) {
    const entries = Object.entries(counts[p]!).sort(([a], [b]) => a.localeCompare(b));
    const trips = entries.filter(([k]) => !k.startsWith("(")).reduce((s, [, v]) => s + v, 0);
    console.log(
      `${subject.label}, ${p}${p === "drain" ? ` (concurrency ${concurrency})` : " (one by one)"}: ${(trips / n).toFixed(2)} commands sent per task`,
    );
    for (const [k, v] of entries) console.log(`    ${k}: ${(v / n).toFixed(2)}`);
  }
}
process.exit(0);

/**
 * A worker process for the scenarios: builds the app from `QTASKS_REL_CONFIG`, registers the
 * scenario tasks, journals every execution, and runs until SIGTERM (graceful) or SIGKILL.
 */
import { ConsoleLogger, QueueTasks } from "@qtasks/core";
import { type BackendConfig, makeBroker, makeStorage } from "./backends";
import { Journal } from "./journal";

const config = JSON.parse(process.env.QTASKS_REL_CONFIG ?? "{}") as BackendConfig;
const journal = new Journal(process.env.QTASKS_REL_JOURNAL ?? "/tmp/qtasks-rel", `worker-${process.pid}`);
const concurrency = Number(process.env.QTASKS_REL_CONCURRENCY ?? 10);
const shutdownTimeout = Number(process.env.QTASKS_REL_SHUTDOWN ?? 25);

const storage = makeStorage(config);
const broker = makeBroker(config);
if (process.env.QTASKS_REL_CRASH_AFTER_FINAL) {
  // Scenario 6: die right after the first final write, before the worker can ack the broker.
  const finish = storage.finish.bind(storage);
  storage.finish = async (...args) => {
    const ok = await finish(...args);
    if (ok) process.kill(process.pid, "SIGKILL");
    return ok;
  };
  // A fused pair (RedisBroker + RedisStorage) writes and acks in one atomic step, which has no such
  // window: this worker alone writes and acks separately, so that the window exists and the crash
  // lands in it. The next worker is fused throughout (its claim-and-begin finds the record final).
  const fuse = broker.fuse?.bind(broker);
  if (fuse)
    broker.fuse = (s) => {
      const ops = fuse(s);
      return (
        ops && {
          ...ops,
          finishAndAck: async (delivery, attempt, outcome) => {
            const ok = await storage.finish(delivery.envelope.uuid, attempt, outcome);
            if (ok) await broker.ack(delivery);
            return ok;
          },
        }
      );
    };
}

const app = new QueueTasks({
  name: config.appName,
  broker,
  storage,
  logger: new ConsoleLogger({ level: "warn", format: "json", stream: process.stderr }),
  config: {
    maxTasksProcess: concurrency,
    shutdownTimeout,
    heartbeatInterval: 1,
    ...(process.env.QTASKS_REL_RETENTION
      ? { retention: { olderThanSeconds: Number(process.env.QTASKS_REL_RETENTION), intervalSeconds: 2 } }
      : {}),
  },
});

interface Job {
  id: string;
  /** Milliseconds the first attempt takes. */
  ms?: number;
  /** Milliseconds later attempts take (default: `ms`). */
  laterMs?: number;
  fail?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

app.task({ name: "rel.work", echo: true }, async (self, job: Job) => {
  const base = { id: job.id, uuid: self.ctx.taskUuid, pid: process.pid, attempt: self.ctx.attempt };
  journal.record({ e: "start", ...base, ts: Date.now() });
  await sleep((self.ctx.attempt > 1 ? job.laterMs : undefined) ?? job.ms ?? 0);
  journal.record({ e: "end", ...base, ts: Date.now() });
  return job.id;
});

// Fails its first run when `fail` is set; the retry (a new linked record) succeeds.
app.task({ name: "rel.flaky", echo: true, retry: 3 }, async (self, job: Job) => {
  const base = { id: job.id, uuid: self.ctx.taskUuid, pid: process.pid, attempt: self.ctx.attempt };
  journal.record({ e: "start", ...base, ts: Date.now() });
  const first = (await self.ctx.getMetadata()).retries === 0;
  journal.record({ e: "end", ...base, ts: Date.now() });
  if (job.fail && first) throw new Error(`planned failure of ${job.id}`);
  return job.id;
});

app.task({ name: "rel.mem" }, () => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage();
});

app.task({ name: "rel.poison", echo: true }, async (self, job: Job) => {
  journal.record({
    e: "start",
    id: job.id,
    uuid: self.ctx.taskUuid,
    pid: process.pid,
    attempt: self.ctx.attempt,
    ts: Date.now(),
  });
  // Takes its whole worker down, every time it runs.
  process.kill(process.pid, "SIGKILL");
  await sleep(60_000);
});

app.task({ name: "rel.block", echo: true }, async (self, job: Job) => {
  const base = { id: job.id, uuid: self.ctx.taskUuid, pid: process.pid, attempt: self.ctx.attempt };
  journal.record({ e: "start", ...base, ts: Date.now() });
  // Blocks the event loop (first attempt only): no lease renewal can run meanwhile.
  const until = Date.now() + (self.ctx.attempt === 1 ? (job.ms ?? 0) : 0);
  while (Date.now() < until) {
    /* spin */
  }
  journal.record({ e: "end", ...base, ts: Date.now() });
  return { pid: process.pid, attempt: self.ctx.attempt };
});

app.task({ name: "rel.probe" }, () => ({
  polluted: ({} as Record<string, unknown>).polluted ?? null,
  protoPolluted: Object.hasOwn(Object.prototype, "polluted"),
}));

app.task({ name: "rel.big" }, (bytes: number) => "x".repeat(bytes));

await app.start();
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  void app.stop({ timeout: shutdownTimeout }).then(
    () => process.exit(0),
    () => process.exit(1),
  );
});

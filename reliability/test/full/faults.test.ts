import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { adminPg, BACKENDS } from "../../src/backends";
import { Scenario, startedCount, until } from "../../src/harness";
import { readJournals } from "../../src/journal";
import { recordRow } from "../../src/report";

const run = promisify(execFile);
let current: Scenario | undefined;
afterEach(async () => {
  await current?.dispose();
  current = undefined;
});

describe.each(BACKENDS)("graceful shutdown on $label", (backend) => {
  it("2. SIGTERM with 100 tasks in flight and one 60 s task: the 100 finish, exit 0, the long task moves on at once", async () => {
    const s = new Scenario(backend, { leaseSeconds: 30 });
    current = s;
    await s.client.connect();
    const a = await s.startWorker({ concurrency: 101, shutdownTimeout: 8 });
    await s.enqueue("rel.work", [{ id: "long", ms: 60_000, laterMs: 10 }]);
    await s.enqueue(
      "rel.work",
      Array.from({ length: 100 }, (_, i) => ({ id: `t${i}`, ms: 2000 + (i % 10) * 100 })),
    );
    await until(() => startedCount(s.journalDir, a.child.pid) >= 101, 60, "101 tasks to start");
    const signalAt = Date.now();
    a.child.kill("SIGTERM");
    const b = await s.startWorker({ concurrency: 5 });
    const code = await a.exited;
    const exitedAfter = (Date.now() - signalAt) / 1000;
    const events = readJournals(s.journalDir);
    const startsAfterSignal = events.filter(
      (e) => e.e === "start" && e.pid === a.child.pid && e.ts > signalAt,
    ).length;
    const finishedOnA = events.filter((e) => e.e === "end" && e.pid === a.child.pid).length;
    const exitAt = Date.now();
    await until(
      () =>
        readJournals(s.journalDir).some((e) => e.e === "start" && e.id === "long" && e.pid === b.child.pid),
      10,
      "the long task to start on the other worker",
    );
    const pickedUpAfter = (Date.now() - exitAt) / 1000;
    const acc = await s.account(60);
    recordRow({
      scenario: "2 sigterm",
      backend: backend.label,
      ...acc,
      notes: `exit ${code} after ${exitedAfter.toFixed(1)}s; long task picked up ${pickedUpAfter.toFixed(1)}s after exit`,
    });
    expect(code).toBe(0);
    expect(exitedAfter).toBeLessThan(8 + 5);
    expect(startsAfterSignal).toBe(0);
    expect(finishedOnA).toBe(100);
    expect(pickedUpAfter).toBeLessThan(5);
    expect(acc.lost).toBe(0);
  });
});

/** A Redis of the test's own, on its own port, persisting every write (appendfsync always). */
async function ownRedis(): Promise<{
  url: string;
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}> {
  const port = 6400 + Math.floor(Math.random() * 500);
  const dir = mkdtempSync(join(tmpdir(), "qtasks-redis-"));
  let proc: ReturnType<typeof spawn> | undefined;
  const start = async () => {
    proc = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
      ],
      { stdio: "ignore" },
    );
    await until(
      async () => {
        try {
          await run("redis-cli", ["-p", String(port), "ping"]);
          return true;
        } catch {
          return false;
        }
      },
      20,
      "redis to start",
    );
  };
  const kill = async () => {
    const p = proc;
    if (!p) return;
    const gone = new Promise((r) => p.on("exit", r));
    p.kill("SIGKILL");
    await gone;
    proc = undefined;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    kill,
    start,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.each(BACKENDS.filter((b) => b.broker === "redis" || b.storage === "redis"))(
  "Redis restart on $label",
  (backend) => {
    it("3. Redis killed and restarted while 5,000 tasks flow: everyone recovers within 30 s, nothing lost", async () => {
      const redis = await ownRedis();
      try {
        const s = new Scenario(backend, { leaseSeconds: 3, urls: { redisUrl: redis.url } });
        current = s;
        await s.client.connect();
        await s.startWorker({ concurrency: 50 });
        await s.startWorker({ concurrency: 50 });
        const jobs = Array.from({ length: 5000 }, (_, i) => ({ id: `t${i}`, ms: 5 }));
        const producing = s.produce("rel.work", jobs, 500);
        await new Promise((r) => setTimeout(r, 3000));
        await redis.kill();
        await new Promise((r) => setTimeout(r, 2000));
        await redis.start();
        const backAt = Date.now();
        const produced = await producing;
        const acc = await s.account(30 + 30);
        const recoveredIn = (Date.now() - backAt) / 1000;
        recordRow({
          scenario: "3 redis restart",
          backend: backend.label,
          ...acc,
          notes: `enqueue retries: ${produced.failures}; all final ${recoveredIn.toFixed(1)}s after Redis was back`,
        });
        expect(produced.settled).toBe(5000);
        expect(acc.acknowledged).toBe(5000);
        expect(acc.lost).toBe(0);
        expect(acc.unexpected).toBe(0);
      } finally {
        await current?.dispose();
        current = undefined;
        await redis.stop();
      }
    });
  },
);

describe.each(BACKENDS.filter((b) => b.broker === "rabbitmq"))(
  "RabbitMQ connections closed on $label",
  (backend) => {
    it("4. the server closes every connection mid-run: recovered, nothing lost, no unknown delivery tag, every enqueue settles", async () => {
      const s = new Scenario(backend, { leaseSeconds: 5 });
      current = s;
      await s.client.connect();
      const w1 = await s.startWorker({ concurrency: 50 });
      const w2 = await s.startWorker({ concurrency: 50 });
      const jobs = Array.from({ length: 3000 }, (_, i) => ({ id: `t${i}`, ms: 5 }));
      const producing = s.produce("rel.work", jobs, 500);
      await new Promise((r) => setTimeout(r, 2500));
      const { stdout } = await run("rabbitmqctl", [
        "list_connections",
        "-q",
        "--no-table-headers",
        "pid",
        "client_properties",
      ]);
      const ours = stdout
        .split("\n")
        .filter((l) => l.includes(`qtasks.${s.config.appName}`))
        .map((l) => l.split(/\s+/)[0]!)
        .filter(Boolean);
      for (const pid of ours)
        await run("rabbitmqctl", ["close_connection", pid, "test: closed by the server"]).catch(() => {});
      const closedAt = Date.now();
      const produced = await producing;
      const acc = await s.account(60);
      const recoveredIn = (Date.now() - closedAt) / 1000;
      const unknownTag = [...w1.stderr, ...w2.stderr].filter((l) => /unknown delivery tag/i.test(l)).length;
      recordRow({
        scenario: "4 rabbitmq closed",
        backend: backend.label,
        ...acc,
        notes: `closed ${ours.length} connections; all final ${recoveredIn.toFixed(1)}s later; unknown-tag errors: ${unknownTag}`,
      });
      expect(ours.length).toBeGreaterThan(0);
      expect(produced.settled).toBe(3000);
      expect(acc.lost).toBe(0);
      expect(unknownTag).toBe(0);
    });
  },
);

describe.each(BACKENDS.filter((b) => b.storage === "postgres"))("PostgreSQL faults on $label", (backend) => {
  it("5. storage connections terminated mid-run: the work finishes, nothing acked without its final record", async () => {
    const s = new Scenario(backend, { leaseSeconds: 5 });
    current = s;
    await s.client.connect();
    await s.startWorker({ concurrency: 50 });
    const jobs = Array.from({ length: 3000 }, (_, i) => ({ id: `t${i}`, ms: 5 }));
    const producing = s.produce("rel.work", jobs, 500);
    await new Promise((r) => setTimeout(r, 2500));
    const admin = new pg.Client(adminPg());
    await admin.connect();
    const { rows } = await admin.query(
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1",
      [s.config.appName],
    );
    await admin.end();
    const produced = await producing;
    const acc = await s.account(60);
    recordRow({
      scenario: "5 postgres terminated",
      backend: backend.label,
      ...acc,
      notes: `terminated ${rows.length} connections; enqueue retries: ${produced.failures}`,
    });
    expect(rows.length).toBeGreaterThan(0);
    expect(acc.lost).toBe(0);
    expect(acc.unexpected).toBe(0);
  });
});

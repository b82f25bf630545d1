import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RedisBroker, RedisUnavailableError } from "../src";
import { ctx, envelope, freeRedisPort, sleep } from "./helpers";

// A Redis of this test's own (never the shared one), on a free port, persisting every write.
const dir = mkdtempSync(join(tmpdir(), "qtasks-broker-redis-"));
let port = 0;
let url = "";
let proc: ChildProcess | undefined;

async function startRedis(): Promise<void> {
  if (!port) {
    port = await freeRedisPort();
    url = `redis://127.0.0.1:${port}`;
  }
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes"].concat([
      "--appendfsync",
      "always",
      "--save",
      "",
    ]),
    { stdio: "ignore" },
  );
  proc = child;
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 0 });
  probe.on("error", () => undefined);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`own redis-server on port ${port} exited at start (port taken?)`);
    try {
      await probe.connect();
      // Make sure it is our process that answers, not someone else's server on that port.
      const info = (await probe.info("server")) as string;
      if (!info.includes(`process_id:${child.pid}`))
        throw new Error(`port ${port} answered by another server`);
      break;
    } catch (error) {
      if (String(error).includes("another server")) throw error;
      if (Date.now() > deadline) throw new Error("own redis-server did not start");
      probe.disconnect();
      await sleep(50);
    }
  }
  probe.disconnect();
}

async function killRedis(): Promise<void> {
  const p = proc;
  if (!p) return;
  const gone = new Promise((r) => p.on("exit", r));
  p.kill("SIGKILL");
  await gone;
  proc = undefined;
}

afterAll(async () => {
  await killRedis();
  rmSync(dir, { recursive: true, force: true });
});

describe("Redis killed and restarted mid-run", () => {
  it("workers reconnect and finish everything; producers get the typed error while it is down", {
    timeout: 90_000,
  }, async () => {
    await startRedis();
    const producer = new RedisBroker({ url, prefix: "t:{q}:", commandTimeoutMs: 1000 });
    const consumer = new RedisBroker({ url, prefix: "t:{q}:", leaseSeconds: 3, sweepIntervalMs: 200 });
    await producer.start(ctx());
    await consumer.start(ctx());
    const total = 2000;
    const sent = Array.from({ length: total }, (_, i) => envelope(`restart.${i}`));
    await producer.publish(sent.slice(0, 1000).map((e) => ({ envelope: e })));
    // Delivered at least once, and acked with a `true` answer. An ack whose reply died with Redis
    // may be in doubt; what counts is that everything was delivered and nothing is left in Redis.
    const delivered = new Set<string>();
    const done = new Set<string>();
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const got = await consumer.claim(20, { waitSeconds: 1 });
        await Promise.all(
          got.map(async (d) => {
            await sleep(1);
            delivered.add(d.envelope.uuid);
            if (await consumer.ack(d).catch(() => false)) done.add(d.envelope.uuid);
          }),
        );
      }
    })();
    while (done.size < 200) await sleep(10);
    await killRedis();

    // While Redis is down, a producer fails fast with the typed error.
    const t0 = Date.now();
    const err = await producer.publish([{ envelope: envelope("down") }]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RedisUnavailableError);
    expect(Date.now() - t0).toBeLessThan(5000);

    await sleep(500);
    await startRedis();
    // The producer's own reconnect backoff may still be running: publish as soon as it is back.
    for (let i = 0; ; i++) {
      try {
        await producer.publish(sent.slice(1000).map((e) => ({ envelope: e })));
        break;
      } catch (error) {
        if (!(error instanceof RedisUnavailableError) || i >= 20) throw error;
      }
    }
    const deadline = Date.now() + 30_000;
    const drained = async () => {
      const st = await consumer.stats().catch(() => undefined);
      return !!st && !st.inFlight && !st.delayed && Object.keys(st.ready).length === 0;
    };
    while (!(delivered.size === total && (await drained())) && Date.now() < deadline) await sleep(100);
    stop = true;
    await loop;
    // Nothing lost: every envelope was delivered, and Redis holds nothing more to deliver.
    expect(sent.filter((e) => !delivered.has(e.uuid))).toEqual([]);
    expect(await consumer.stats()).toMatchObject({ ready: {}, inFlight: 0, delayed: 0, deadLetters: 0 });
    expect(done.size).toBeGreaterThan(total - 50);
    await producer.stop();
    await consumer.stop();
  });
});

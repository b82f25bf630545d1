import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RedisBroker, RedisUnavailableError } from "../src";
import { ctx, envelope, sleep } from "./helpers";

// A Redis of this test's own (never the shared one), on its own port, persisting every write.
const port = 7000 + Math.floor(Math.random() * 1000);
const dir = mkdtempSync(join(tmpdir(), "qtasks-broker-redis-"));
const url = `redis://127.0.0.1:${port}`;
let proc: ChildProcess | undefined;

async function startRedis(): Promise<void> {
  proc = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes"].concat([
      "--appendfsync",
      "always",
      "--save",
      "",
    ]),
    { stdio: "ignore" },
  );
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 0 });
  probe.on("error", () => undefined);
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch {
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
  it("workers reconnect and finish everything; producers get the typed error while it is down", async () => {
    await startRedis();
    const producer = new RedisBroker({ url, prefix: "t:{q}:", commandTimeoutMs: 1000 });
    const consumer = new RedisBroker({ url, prefix: "t:{q}:", leaseSeconds: 3, sweepIntervalMs: 200 });
    await producer.start(ctx());
    await consumer.start(ctx());
    const total = 2000;
    const sent = Array.from({ length: total }, (_, i) => envelope(`restart.${i}`));
    await producer.publish(sent.slice(0, 1000).map((e) => ({ envelope: e })));
    const done = new Set<string>();
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const got = await consumer.claim(20, { waitSeconds: 1 });
        await Promise.all(
          got.map(async (d) => {
            await sleep(1);
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
    await producer.publish(sent.slice(1000).map((e) => ({ envelope: e })));
    const deadline = Date.now() + 30_000;
    while (done.size < total && Date.now() < deadline) await sleep(50);
    stop = true;
    await loop;
    // Nothing lost: every envelope was acked once (an ack lost with the kill is redelivered later).
    expect(sent.filter((e) => !done.has(e.uuid))).toEqual([]);
    const stats = await consumer.stats();
    expect(stats).toMatchObject({ ready: {}, inFlight: 0, delayed: 0, deadLetters: 0 });
    await producer.stop();
    await consumer.stop();
  });
});

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { brokerFactory, deletePrefix, envelope, REDIS_URL, sleep, testPrefix } from "./helpers";

const prefix = testPrefix("sigkill");
const redis = new Redis(REDIS_URL);
const f = brokerFactory(prefix);

afterAll(async () => {
  await f.stopAll();
  await deletePrefix(redis, prefix);
  redis.disconnect();
});

describe("a worker killed with SIGKILL", () => {
  it("loses nothing: a second worker finishes all 200 in-flight tasks, each run at most twice", async () => {
    const producer = await f.make({ leaseSeconds: 2 });
    const sent = Array.from({ length: 200 }, (_, i) => envelope(`kill.${i}`, i % 5));
    await producer.publish(sent.map((e) => ({ envelope: e })));

    const child = spawn(
      process.execPath,
      ["--import", "tsx", fileURLToPath(new URL("./fixtures/crash-worker.ts", import.meta.url))],
      {
        env: { ...process.env, QTASKS_TEST_PREFIX: prefix, REDIS_URL },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("exit", (_code, sig) => resolve(sig)),
    );
    // Wait until the child holds all 200 under its leases.
    const deadline = Date.now() + 20_000;
    while (Number(await redis.hlen(`${prefix}runs`)) < 200 && Date.now() < deadline) await sleep(50);
    expect(Number(await redis.hlen(`${prefix}runs`)), stderr).toBe(200);
    expect((await producer.stats()).inFlight).toBe(200);
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");

    // The second worker: runs each delivery (counted) and acks it.
    const worker = await f.make({ leaseSeconds: 2 });
    const acked = new Map<string, number>();
    const until = Date.now() + 30_000;
    while (acked.size < 200 && Date.now() < until) {
      const got = await worker.claim(50, { waitSeconds: 1 });
      for (const d of got) {
        await redis.hincrby(`${prefix}runs`, d.envelope.uuid, 1);
        expect(d.deliveryCount).toBe(2);
        if (await worker.ack(d)) acked.set(d.envelope.uuid, (acked.get(d.envelope.uuid) ?? 0) + 1);
      }
    }
    expect(acked.size).toBe(200);
    expect([...acked.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(acked.keys())).toEqual(new Set(sent.map((e) => e.uuid)));
    const runs = await redis.hgetall(`${prefix}runs`);
    expect(Object.keys(runs)).toHaveLength(200);
    expect(Object.values(runs).every((n) => Number(n) === 2)).toBe(true);
    expect(await worker.claim(50, { waitSeconds: 0.5 })).toEqual([]);
    expect(await worker.stats()).toMatchObject({ ready: {}, inFlight: 0, delayed: 0, deadLetters: 0 });
  });
});

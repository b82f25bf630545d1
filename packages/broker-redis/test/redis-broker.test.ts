import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import { ConnectionError, type Delivery, InvalidOptionError, NotStartedError } from "@qtasks/core";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RedisBroker, RedisUnavailableError } from "../src";
import {
  brokerFactory,
  ctx,
  deletePrefix,
  envelope,
  globEscape,
  REDIS_URL,
  scanKeys,
  sleep,
  testPrefix,
} from "./helpers";

const prefix = testPrefix("broker");
const redis = new Redis(REDIS_URL);
const f = brokerFactory(prefix);

// Every test gets its own sub-prefix (same hash tag shape), all under the file's prefix.
function sub(): string {
  return `${prefix}${randomUUID().slice(0, 8)}:{t}:`;
}

afterAll(async () => {
  await f.stopAll();
  await deletePrefix(redis, prefix);
  expect(await scanKeys(redis, `${globEscape(prefix)}*`)).toEqual([]);
  redis.disconnect();
});

describe("RedisBroker: ordering", () => {
  it("hands out a backlog highest priority first, FIFO within a priority", async () => {
    const b = await f.make({ prefix: sub() });
    const priorities = [0, 5, -3, 100, -100, 5, 0, 42, -3, 7];
    const sent = Array.from({ length: 300 }, (_, i) => envelope(`task.${i}`, priorities[(i * 7) % 10]!));
    // Several publishes, one of them bulk, so sequence numbers interleave across priorities.
    await b.publish(sent.slice(0, 1).map((e) => ({ envelope: e })));
    await b.publish(sent.slice(1, 200).map((e) => ({ envelope: e })));
    for (const e of sent.slice(200)) await b.publish([{ envelope: e }]);
    const stats = await b.stats();
    const expectedCounts: Record<number, number> = {};
    for (const e of sent) expectedCounts[e.priority] = (expectedCounts[e.priority] ?? 0) + 1;
    expect(stats.ready).toEqual(expectedCounts);

    const got: string[] = [];
    for (;;) {
      const batch = await b.claim(7, { waitSeconds: 0 });
      if (batch.length === 0) break;
      expect(batch.length).toBeLessThanOrEqual(7);
      for (const d of batch) {
        got.push(d.envelope.uuid);
        expect(await b.ack(d)).toBe(true);
      }
    }
    const expected = sent
      .map((e, i) => ({ e, i }))
      .sort((x, y) => y.e.priority - x.e.priority || x.i - y.i)
      .map((x) => x.e.uuid);
    expect(got).toEqual(expected);
  });

  it("a released envelope goes back ahead of newer ones of its priority", async () => {
    const b = await f.make({ prefix: sub() });
    const [a, c, d] = [envelope("a", 1), envelope("c", 1), envelope("d", 2)];
    await b.publish([{ envelope: a }, { envelope: c }]);
    const [first] = await b.claim(1, { waitSeconds: 0 });
    expect(first?.envelope.uuid).toBe(a.uuid);
    await b.publish([{ envelope: d }]);
    expect(await b.release(first!)).toBe(true);
    const order = (await b.claim(10, { waitSeconds: 0 })).map((x) => x.envelope.taskName);
    expect(order).toEqual(["d", "a", "c"]);
    const again = order.length;
    expect(again).toBe(3);
  });
});

describe("RedisBroker: delays and blocking", () => {
  it("a delayed envelope becomes claimable on time, behind what was ready before it", async () => {
    const b = await f.make({ prefix: sub(), sweepIntervalMs: 5000 });
    const late = envelope("late", 0);
    const t0 = Date.now();
    await b.publish([{ envelope: late, delay: 0.4 }]);
    expect(await b.claim(5, { waitSeconds: 0 })).toEqual([]);
    expect((await b.stats()).delayed).toBe(1);
    const got = await b.claim(5, { waitSeconds: 5 });
    const elapsed = Date.now() - t0;
    expect(got.map((d) => d.envelope.uuid)).toEqual([late.uuid]);
    expect(elapsed).toBeGreaterThanOrEqual(390);
    // Generous: the target is 50 ms, the machine is small and shared.
    expect(elapsed).toBeLessThan(400 + 300);
  });

  it("a delayed publish wakes a claimer that is blocked with a long wait", async () => {
    const b = await f.make({ prefix: sub(), sweepIntervalMs: 20_000 });
    const p = b.claim(1, { waitSeconds: 15 });
    await sleep(100);
    const t0 = Date.now();
    await b.publish([{ envelope: envelope("soon"), delay: 0.3 }]);
    const got = await p;
    expect(got).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(300 + 1000);
  });

  it("a blocked claim wakes on publish from another broker (no polling: the sweep is 20 s)", async () => {
    const consumer = await f.make({ prefix: sub(), sweepIntervalMs: 20_000 });
    const producer = await f.make({ prefix: consumer.keyPrefix });
    const p = consumer.claim(10, { waitSeconds: 15 });
    await sleep(200);
    const t0 = Date.now();
    const e = envelope("wake");
    await producer.publish([{ envelope: e }]);
    const got = await p;
    expect(got.map((d) => d.envelope.uuid)).toEqual([e.uuid]);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("two blocked claimers in two brokers both get work from one bulk publish", async () => {
    const k = sub();
    const a = await f.make({ prefix: k, sweepIntervalMs: 20_000 });
    const c = await f.make({ prefix: k, sweepIntervalMs: 20_000 });
    const pa = a.claim(1, { waitSeconds: 10 });
    const pc = c.claim(1, { waitSeconds: 10 });
    await sleep(200);
    const t0 = Date.now();
    await a.publish([{ envelope: envelope("x") }, { envelope: envelope("y") }]);
    const [ra, rc] = await Promise.all([pa, pc]);
    expect(ra).toHaveLength(1);
    expect(rc).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it("a delay fires on time on an idle worker even when another worker took the publish's wake-up", async () => {
    const k = sub();
    // 20 s sweeps: only wake-ups and delay timers can make these claims return in time.
    const a = await f.make({ prefix: k, sweepIntervalMs: 20_000 });
    const c = await f.make({ prefix: k, sweepIntervalMs: 20_000 });
    const producer = await f.make({ prefix: k });
    const pa = a.claim(1, { waitSeconds: 10 });
    const pc = c.claim(1, { waitSeconds: 10 });
    await sleep(300);
    const now = envelope("now");
    const later = envelope("later");
    const t0 = Date.now();
    // One wake-up token: the first claimer takes "now" and goes busy (it does not claim again);
    // the other must still hear of "later" and claim it on time.
    await producer.publish([{ envelope: now }, { envelope: later, delay: 0.5 }]);
    const first = await Promise.race([pa, pc]);
    expect(first.map((d) => d.envelope.uuid)).toEqual([now.uuid]);
    const [ra, rc] = await Promise.all([pa, pc]);
    const second = ra === first ? rc : ra;
    expect(second.map((d) => d.envelope.uuid)).toEqual([later.uuid]);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(490);
    expect(elapsed).toBeLessThan(500 + 1000);
  });

  it("an aborted claim returns [] promptly; stop() ends a blocked claim", async () => {
    const b = await f.make({ prefix: sub(), sweepIntervalMs: 20_000 });
    const ac = new AbortController();
    const t0 = Date.now();
    const p = b.claim(1, { waitSeconds: 10, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    expect(await p).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(2000);

    const t1 = Date.now();
    const q = b.claim(1, { waitSeconds: 10 });
    await sleep(100);
    await b.stop();
    expect(await q).toEqual([]);
    expect(Date.now() - t1).toBeLessThan(2000);
    await expect(b.claim(1, { waitSeconds: 0 })).rejects.toBeInstanceOf(NotStartedError);
  });
});

describe("RedisBroker: leases", () => {
  it("an unacked delivery comes back after its lease, counted; a stale token is refused", async () => {
    const b = await f.make({ prefix: sub(), leaseSeconds: 1, sweepIntervalMs: 200 });
    const e = envelope("lease");
    await b.publish([{ envelope: e }]);
    const [first] = await b.claim(1, { waitSeconds: 0 });
    expect(first?.deliveryCount).toBe(1);
    expect(await b.claim(1, { waitSeconds: 0 })).toEqual([]);
    const t0 = Date.now();
    const [second] = await b.claim(1, { waitSeconds: 5 });
    expect(Date.now() - t0).toBeLessThan(1000 + 200 + 1000);
    expect(second?.envelope).toEqual(e);
    expect(second?.deliveryCount).toBe(2);
    expect(second?.token).not.toBe(first?.token);

    // Every operation with the stale token is refused and changes nothing.
    expect(await b.extendLease(first!)).toBe(false);
    expect(await b.ack(first!)).toBe(false);
    expect(await b.release(first!)).toBe(false);
    expect(await b.deadLetter(first!, "stale")).toBe(false);
    expect(await b.stats()).toMatchObject({ ready: {}, inFlight: 1, deadLetters: 0 });
    expect(await b.ack(second!)).toBe(true);
    expect(await b.stats()).toMatchObject({ ready: {}, inFlight: 0, delayed: 0 });
  });

  it("a renewed lease does not expire", async () => {
    const b = await f.make({ prefix: sub(), leaseSeconds: 1, sweepIntervalMs: 100 });
    await b.publish([{ envelope: envelope("renew") }]);
    const [d] = await b.claim(1, { waitSeconds: 0 });
    const until = Date.now() + 2500;
    const other = b.claim(1, { waitSeconds: 2.5 });
    while (Date.now() < until) {
      expect(await b.extendLease(d!)).toBe(true);
      await sleep(250);
    }
    expect(await other).toEqual([]);
    expect(await b.ack(d!)).toBe(true);
  });

  it("acks and renewals issued together are answered one by one (batched into one call)", async () => {
    const b = await f.make({ prefix: sub(), leaseSeconds: 5 });
    await b.publish(Array.from({ length: 30 }, (_, i) => ({ envelope: envelope(`batch.${i}`) })));
    const ds = await b.claim(30, { waitSeconds: 0 });
    expect(ds).toHaveLength(30);
    const stale: Delivery = { ...ds[0]!, token: `${ds[0]!.token.split(".")[0]}.99` };
    expect(await Promise.all([...ds.slice(0, 10), stale].map((d) => b.extendLease(d)))).toEqual([
      ...Array(10).fill(true),
      false,
    ]);
    // Same tick: the first ack of ds[0] wins, its repeat and the stale token are refused.
    const answers = await Promise.all([...ds, ds[0]!, stale].map((d) => b.ack(d)));
    expect(answers).toEqual([...Array(30).fill(true), false, false]);
    expect(await b.stats()).toMatchObject({ ready: {}, inFlight: 0 });
  });

  it("a forged or foreign token is refused", async () => {
    const b = await f.make({ prefix: sub() });
    const fake: Delivery = { envelope: envelope("x"), deliveryCount: 1, token: "no such token" };
    expect(await b.ack(fake)).toBe(false);
    expect(await b.extendLease({ ...fake, token: "123.1" })).toBe(false);
    expect(await b.release({ ...fake, token: "123.1" })).toBe(false);
  });

  it("release with a delay holds the envelope back", async () => {
    const b = await f.make({ prefix: sub() });
    await b.publish([{ envelope: envelope("r") }]);
    const [d] = await b.claim(1, { waitSeconds: 0 });
    await expect(b.release(d!, { delay: Number.NaN })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(b.publish([{ envelope: envelope("nan"), delay: Number.NaN }])).rejects.toBeInstanceOf(
      InvalidOptionError,
    );
    expect(await b.release(d!, { delay: 0.5 })).toBe(true);
    expect(await b.claim(1, { waitSeconds: 0 })).toEqual([]);
    expect((await b.stats()).delayed).toBe(1);
    const [again] = await b.claim(1, { waitSeconds: 5 });
    expect(again?.deliveryCount).toBe(2);
  });
});

describe("RedisBroker: dead letters and malformed data", () => {
  it("dead-letters, lists oldest first, and redrives all or by id", async () => {
    const b = await f.make({ prefix: sub() });
    const es = [envelope("d1", 1), envelope("d2", 2), envelope("d3", 3)];
    await b.publish(es.map((e) => ({ envelope: e })));
    const ds = await b.claim(3, { waitSeconds: 0 });
    expect(ds.map((d) => d.envelope.taskName)).toEqual(["d3", "d2", "d1"]);
    for (const d of ds) expect(await b.deadLetter(d, `limit:${d.envelope.taskName}`)).toBe(true);
    expect(await b.deadLetter(ds[0]!, "again")).toBe(false);
    const dead = await b.listDeadLetters();
    expect(dead.map((x) => [x.id, x.reason])).toEqual([
      [es[2]!.uuid, "limit:d3"],
      [es[1]!.uuid, "limit:d2"],
      [es[0]!.uuid, "limit:d1"],
    ]);
    expect(dead[0]!.envelope).toEqual(es[2]);
    expect(dead[0]!.deadLetteredAt).toBeInstanceOf(Date);
    expect(await b.listDeadLetters({ limit: 1 })).toHaveLength(1);
    expect(await b.stats()).toMatchObject({ deadLetters: 3, inFlight: 0 });

    expect(await b.redriveDeadLetters([es[1]!.uuid, "unknown"])).toBe(1);
    const [r] = await b.claim(5, { waitSeconds: 0 });
    expect(r?.envelope).toEqual(es[1]);
    expect(r?.deliveryCount).toBe(1);
    expect(await b.ack(r!)).toBe(true);
    expect(await b.redriveDeadLetters()).toBe(2);
    expect(await b.listDeadLetters()).toEqual([]);
    expect((await b.claim(5, { waitSeconds: 0 })).map((d) => d.envelope.taskName)).toEqual(["d3", "d1"]);
  });

  it("malformed entries are dead-lettered as malformed, once, and claiming goes on", async () => {
    const warnings: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn(m: string) {
        warnings.push(m);
      },
      error() {},
      child() {
        return logger;
      },
    };
    const b = new RedisBroker({ url: REDIS_URL, prefix: sub() });
    await b.start({ appName: "test", logger });
    try {
      const good = envelope("good", 0);
      await b.injectRaw("not json", 5);
      await b.injectRaw("{}", 5);
      await b.injectRaw(new Uint8Array([0xff, 0xfe, 0x7b]), 5);
      await b.injectRaw(JSON.stringify({ ...good, uuid: "not-a-uuid" }), 5);
      await b.injectRaw("x".repeat(5000), 5);
      await b.publish([{ envelope: good }]);
      const got = await b.claim(10, { waitSeconds: 1 });
      expect(got.map((d) => d.envelope)).toEqual([good]);
      expect(warnings.filter((w) => w.includes("malformed"))).toHaveLength(5);
      const dead = await b.listDeadLetters();
      expect(dead).toHaveLength(5);
      for (const d of dead) {
        expect(d.reason).toBe("malformed");
        expect(d.envelope).toBeUndefined();
        expect(d.id).toMatch(/^malformed-/);
        expect(d.raw!.length).toBeLessThanOrEqual(1024);
      }
      expect(dead[0]!.raw).toBe("not json");
      expect(await b.redriveDeadLetters()).toBe(0);
      expect(await b.listDeadLetters()).toHaveLength(5);
      expect(await b.claim(10, { waitSeconds: 0 })).toEqual([]);
      expect(warnings.filter((w) => w.includes("malformed"))).toHaveLength(5);
    } finally {
      await b.stop();
    }
  });

  it("hostile names and payloads never crash and never touch a key outside the prefix", async () => {
    const k = sub();
    const b = await f.make({ prefix: k });
    const nonce = randomUUID();
    const names = [
      "__proto__",
      "constructor",
      `a:b:${nonce}`,
      `{${nonce}}`,
      `${nonce}`.repeat(30).slice(0, 1024),
      `line\r\n*1\r\n$8\r\nFLUSHALL\r\n${nonce}`,
      `*${nonce}*`,
      "",
    ];
    const payloads: unknown[] = [
      { __proto__: { polluted: nonce } },
      JSON.parse(`{"__proto__": {"polluted": "${nonce}"}, "constructor": {"prototype": {"x": 1}}}`),
      `\r\nSET ${nonce} 1\r\n`,
      "x".repeat(100_000),
      { [`{${nonce}}`]: `a:b:{x}` },
    ];
    for (const name of names) {
      for (const args of payloads) {
        await b.publish([{ envelope: { ...envelope("ok"), taskName: name, args: [args] } }]);
      }
      await b.injectRaw(`${name}\n${nonce}\r\n`, 0);
    }
    const total = names.length * payloads.length + names.length;
    let seen = 0;
    for (;;) {
      const got = await b.claim(20, { waitSeconds: 0 });
      const stats = await b.stats();
      if (got.length === 0 && Object.keys(stats.ready).length === 0) break;
      for (const d of got) {
        seen++;
        expect(await b.ack(d)).toBe(true);
      }
    }
    const dead = await b.listDeadLetters({ limit: 1000 });
    expect(seen + dead.length).toBe(total);
    // Task names that the envelope format rejects arrive as dead letters, never as deliveries.
    expect(dead.every((d) => d.reason === "malformed")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // No key anywhere holds the nonce, and the broker's keys are exactly its fixed names.
    expect(await scanKeys(redis, `*${nonce}*`)).toEqual([]);
    const mine = (await scanKeys(redis, `${globEscape(k)}*`)).map((x) => x.slice(k.length)).sort();
    expect(
      mine.every((x) =>
        ["dead", "deadinfo", "msg", "seq", "wake", "dc", "ready", "lease", "delayed", "dgen"].includes(x),
      ),
    ).toBe(true);
  });
});

describe("RedisBroker: connections", () => {
  it("a producer with Redis unreachable gets the typed error within 5 s, without the password", async () => {
    const b = new RedisBroker({ url: "redis://user:s3cret-pw@127.0.0.1:6390", commandTimeoutMs: 3000 });
    await b.start(ctx());
    try {
      const t0 = Date.now();
      const err = await b.publish([{ envelope: envelope("x") }]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(err).toBeInstanceOf(RedisUnavailableError);
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as RedisUnavailableError).code).toBe("QTASKS_CONNECTION");
      expect(String((err as Error).message)).not.toContain("s3cret-pw");
      expect(String((err as Error).message)).toContain("127.0.0.1:6390");
      // A worker does not fail: claim waits for the connection and returns [] at its deadline.
      expect(await b.claim(1, { waitSeconds: 0.5 })).toEqual([]);
    } finally {
      await b.stop();
    }
  });

  it("wrong credentials: the typed error within 5 s, the secret in no error, cause or log line", async () => {
    const secret = `canary-${randomUUID()}`;
    const lines: string[] = [];
    const write = (m: string, f?: Record<string, unknown>) => lines.push(`${m} ${inspect(f, { depth: 10 })}`);
    const logger = { debug: write, info: write, warn: write, error: write, child: () => logger };
    const b = new RedisBroker({ url: `redis://nosuchuser:${secret}@127.0.0.1:6379`, commandTimeoutMs: 2000 });
    await b.start({ appName: "test", logger });
    try {
      const t0 = Date.now();
      const err = await b.publish([{ envelope: envelope("x") }]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(err).toBeInstanceOf(RedisUnavailableError);
      expect(String((err as Error).message)).toMatch(/WRONGPASS|NOAUTH|auth/i);
      expect(await b.claim(1, { waitSeconds: 0.3 })).toEqual([]);
      const text = [inspect(err, { depth: 10 }), String((err as Error).stack), ...lines].join("\n");
      expect(text).not.toContain(secret);
    } finally {
      await b.stop();
    }
  });

  it("a consumer whose connections are killed reconnects and keeps consuming (blocking wake-ups too)", async () => {
    const k = sub();
    const name = `qtasks-kill-${randomUUID().slice(0, 8)}`;
    // A 20 s sweep: after the kill, only a working blocking connection can wake the claim quickly.
    const consumer = await f.make({
      prefix: k,
      connectionName: name,
      leaseSeconds: 2,
      sweepIntervalMs: 20_000,
    });
    const producer = await f.make({ prefix: k });
    const total = 200;
    const sent = Array.from({ length: total }, (_, i) => envelope(`kill.${i}`));
    const delivered = new Set<string>();
    const done = new Set<string>();
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const got = await consumer.claim(10, { waitSeconds: 1 });
        for (const d of got) {
          delivered.add(d.envelope.uuid);
          await sleep(2);
          const ok = await consumer.ack(d).catch(() => false);
          if (ok) done.add(d.envelope.uuid);
        }
      }
    })();
    const killAll = async () => {
      const list = (await redis.client("LIST")) as string;
      const ids = list
        .split("\n")
        .filter((l) => new RegExp(` name=${name}(:block)? `).test(l))
        .map((l) => /^id=(\d+)/.exec(l)![1]!);
      for (const id of ids) await redis.client("KILL", "ID", id);
      return ids.length;
    };
    await producer.publish(sent.slice(0, 100).map((e) => ({ envelope: e })));
    await sleep(50);
    expect(await killAll()).toBe(2);
    await producer.publish(sent.slice(100).map((e) => ({ envelope: e })));
    await sleep(50);
    await killAll();
    const deadline = Date.now() + 20_000;
    const drained = async () => {
      const st = await producer.stats();
      return !st.inFlight && !st.delayed && Object.keys(st.ready).length === 0;
    };
    while (!(delivered.size === total && (await drained())) && Date.now() < deadline) await sleep(50);
    // Everything delivered, nothing left in Redis (an ack whose reply died with the connection may
    // have answered false after doing its work: that envelope is not delivered again).
    expect(delivered.size).toBe(total);
    expect(await drained()).toBe(true);
    expect(done.size).toBeGreaterThan(total - 30);

    stop = true;
    await loop;

    // The blocking connection is back: a claim blocks in BLPOP on it, and a publish wakes it at once
    // (the loop above polled every second; this claim waits 15 s with a 20 s sweep).
    const blockedLine = async () => {
      await sleep(300);
      return ((await redis.client("LIST")) as string)
        .split("\n")
        .find((l) => l.includes(`name=${name}:block `));
    };
    const wakeCheck = async () => {
      const p = consumer.claim(1, { waitSeconds: 15 });
      const line = await blockedLine();
      expect(line).toContain("cmd=blpop");
      const e = envelope("after");
      const t0 = Date.now();
      await producer.publish([{ envelope: e }]);
      const got = await p;
      expect(got.map((d) => d.envelope.uuid)).toEqual([e.uuid]);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(await consumer.ack(got[0]!)).toBe(true);
    };
    await wakeCheck();

    // Kill the blocking connection while it is blocked: it reconnects and blocks again.
    const p = consumer.claim(1, { waitSeconds: 15 });
    const line = await blockedLine();
    expect(line).toContain("cmd=blpop");
    await redis.client("KILL", "ID", /^id=(\d+)/.exec(line!)![1]!);
    await sleep(500);
    const e = envelope("after-kill");
    const t0 = Date.now();
    await producer.publish([{ envelope: e }]);
    expect((await p).map((d) => d.envelope.uuid)).toEqual([e.uuid]);
    expect(Date.now() - t0).toBeLessThan(5000);
    await wakeCheck();
  });

  it("claimLanes: 2 by default, 1 to 16 accepted, anything else refused", () => {
    expect(new RedisBroker({}).claimLanes).toBe(2);
    expect(new RedisBroker({ claimLanes: 1 }).claimLanes).toBe(1);
    expect(new RedisBroker({ claimLanes: 16 }).claimLanes).toBe(16);
    for (const bad of [0, 17, 1.5, Number.NaN])
      expect(() => new RedisBroker({ claimLanes: bad })).toThrow(InvalidOptionError);
  });

  it("uses an existing client without closing it, and closes its own blocking connection", async () => {
    const name = `qtasks-own-${randomUUID().slice(0, 8)}`;
    const client = new Redis(REDIS_URL, { connectionName: name, lazyConnect: true });
    const listeners = client.listenerCount("ready") + client.listenerCount("error");
    const b = new RedisBroker({ client, prefix: sub(), connectionName: name });
    await b.start(ctx());
    await b.publish([{ envelope: envelope("c") }]);
    const [d] = await b.claim(1, { waitSeconds: 1 });
    expect(await b.ack(d!)).toBe(true);
    // Make the blocking connection exist for sure.
    await b.claim(1, { waitSeconds: 0.3 });
    await b.stop();
    await sleep(100);
    expect(await client.ping()).toBe("PONG");
    expect(client.listenerCount("ready") + client.listenerCount("error")).toBe(listeners);
    const list = (await redis.client("LIST")) as string;
    expect(list).not.toContain(`name=${name}:block `);
    // A caller's client is used as configured: its commands are not coalesced (see below).
    expect(Object.hasOwn(client, "sendCommand")).toBe(false);
    client.disconnect();
  });

  it("coalesces the writes of the connection it creates, unless its options turn auto-pipelining on", async () => {
    const own = new RedisBroker({ url: REDIS_URL, prefix: sub() });
    const auto = new RedisBroker({ url: REDIS_URL, prefix: sub(), redis: { enableAutoPipelining: true } });
    await own.start(ctx());
    await auto.start(ctx());
    try {
      const mainOf = (b: RedisBroker) => (b as unknown as { main: Redis }).main;
      expect(Object.hasOwn(mainOf(own), "sendCommand")).toBe(true);
      expect(Object.hasOwn(mainOf(auto), "sendCommand")).toBe(false);
      await own.publish([{ envelope: envelope("w") }]);
      const [d] = await own.claim(1, { waitSeconds: 1 });
      expect(await own.ack(d!)).toBe(true);
    } finally {
      await own.stop();
      await auto.stop();
    }
  });
});

describe("RedisBroker: keys", () => {
  it("defaults to qtasks:{<appName>}:broker: and tags a prefix that has no hash tag", async () => {
    const app = `app-${randomUUID().slice(0, 8)}`;
    const a = new RedisBroker({ url: REDIS_URL });
    await a.start(ctx(app));
    expect(a.keyPrefix).toBe(`qtasks:{${app}}:broker:`);
    await a.stop();
    const untagged = `qtasks-test-plain-${randomUUID().slice(0, 8)}:`;
    const b = new RedisBroker({ url: REDIS_URL, prefix: untagged });
    await b.start(ctx(app));
    expect(b.keyPrefix).toBe(`${untagged}{${app}}:`);
    await b.publish([{ envelope: envelope("k") }]);
    const keys = await scanKeys(redis, `${globEscape(untagged)}*`);
    expect(keys.length).toBeGreaterThan(0);
    // Every key carries the same hash tag, so they all land in one cluster slot.
    const slots = new Set(
      await Promise.all(keys.map((x) => redis.cluster("KEYSLOT", x).catch(() => tagOf(x)))),
    );
    expect(slots.size).toBe(1);
    await b.stop();
    await deletePrefix(redis, untagged);
    expect(await scanKeys(redis, `${globEscape(untagged)}*`)).toEqual([]);
  });

  it("reports its target with credentials masked", () => {
    const t = new RedisBroker({ url: "redis://user:pa55-word@db.example:6380/2" }).target;
    expect(t).toContain("db.example:6380");
    expect(t).not.toContain("pa55-word");
    expect(new RedisBroker({ client: redis }).target).toContain("(given client)");
  });

  it("never uses the KEYS command", () => {
    for (const file of ["redis-broker.ts", "scripts.ts"]) {
      const src = readFileSync(new URL(`../src/${file}`, import.meta.url), "utf8");
      expect(src).not.toMatch(/['"]KEYS['"]/i);
      expect(src).not.toMatch(/\.keys\(/);
    }
  });
});

function tagOf(key: string): string {
  const open = key.indexOf("{");
  const close = key.indexOf("}", open + 1);
  return key.slice(open + 1, close);
}

import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { type ComponentContext, silentLogger, type TaskEnvelope } from "@qtasks/core";
import type { Redis } from "ioredis";
import { RedisBroker, type RedisBrokerOptions } from "../src";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** A fresh random key prefix (with its own hash tag) for one test file. */
export function testPrefix(label: string): string {
  return `qtasks-test:{${label}-${randomUUID().slice(0, 8)}}:`;
}

export const ctx = (appName = "test"): ComponentContext => ({ appName, logger: silentLogger });

export function envelope(taskName: string, priority = 0, args: unknown[] = []): TaskEnvelope {
  return { v: 1, uuid: randomUUID(), taskName, args, priority, retries: 0, enqueuedAt: Date.now() };
}

/** All keys under `prefix`, found with SCAN (never KEYS). */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return keys;
}

/** Glob-escapes a literal prefix for SCAN MATCH. */
export function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  const keys = await scanKeys(redis, `${globEscape(prefix)}*`);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
}

/** Brokers made by `make` are stopped by `stopAll`. */
export function brokerFactory(prefix: string) {
  const made: RedisBroker[] = [];
  return {
    async make(options: RedisBrokerOptions = {}, appName = "test"): Promise<RedisBroker> {
      const b = new RedisBroker({ url: REDIS_URL, prefix, sweepIntervalMs: 200, ...options });
      await b.start(ctx(appName));
      made.push(b);
      return b;
    },
    async stopAll(): Promise<void> {
      await Promise.all(made.splice(0).map((b) => b.stop()));
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether nothing listens on 127.0.0.1:`port` right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/**
 * A port for a private redis-server that is free now, with `port + 10000` free too (a cluster node's
 * bus port), picked at random so parallel test files and other jobs do not collide.
 */
export async function freeRedisPort(lo = 20000, hi = 29000, span = 1): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = lo + Math.floor(Math.random() * (hi - lo));
    let ok = true;
    for (let k = 0; k < span && ok; k++)
      ok = (await portFree(port + k)) && (await portFree(port + k + 10000));
    if (ok) return port;
  }
  throw new Error("no free port for a private redis-server");
}

/** Retries `check` until it stops throwing, up to `ms` (the last failure is rethrown). */
export async function eventually<T>(check: () => Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}

import { randomBytes } from "node:crypto";
import type { ComponentContext } from "@qtasks/core";
import { silentLogger } from "@qtasks/core";
import { Redis } from "ioredis";
import type { RedisStorageOptions } from "../src/index";
import { RedisStorage } from "../src/index";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

export const ctx: ComponentContext = { appName: "test", logger: silentLogger };

/** A fresh prefix (with its hash tag) per test file. */
export function randomPrefix(tag: string): string {
  return `qtasks-test:{${tag}-${randomBytes(6).toString("hex")}}`;
}

/** Delete every key under the prefix (SCAN + DEL, never KEYS). */
export async function deletePrefix(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL);
  try {
    // Escape glob characters: the hash tag braces are literal, but `[`, `*`, `?` must not be.
    const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}:*`;
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
}

/** Storages created through this helper are stopped by `stopAll`. */
export class StorageFactory {
  private readonly made: RedisStorage[] = [];
  constructor(readonly prefix: string) {}

  async make(options: RedisStorageOptions = {}): Promise<RedisStorage> {
    const s = new RedisStorage({ url: REDIS_URL, prefix: this.prefix, ...options });
    this.made.push(s);
    await s.start(ctx);
    return s;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.made.splice(0).map((s) => s.stop()));
  }
}

export function waitFor<T>(what: string, ms: number, fn: (resolve: (v: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    fn((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

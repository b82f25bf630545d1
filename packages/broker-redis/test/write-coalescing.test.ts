import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { coalesceWrites } from "../src/write-coalescing";
import { REDIS_URL } from "./helpers";

const clients: Redis[] = [];
afterAll(() => {
  for (const c of clients) c.disconnect();
});

async function client(options: { coalesce?: boolean; autoPipelining?: boolean } = {}): Promise<Redis> {
  const c = new Redis(REDIS_URL, { enableAutoPipelining: options.autoPipelining ?? false });
  clients.push(c);
  if (options.coalesce) coalesceWrites(c);
  await c.ping();
  return c;
}

/** Counts the socket's low-level writes (one per syscall-sized chunk Node hands the OS). */
function countWrites(c: Redis): { writes: number[] } {
  const socket = (c as unknown as { stream: Record<string, (...a: unknown[]) => unknown> }).stream;
  const seen = { writes: [] as number[] };
  for (const name of ["_write", "_writev"]) {
    const original = socket[name]!;
    socket[name] = function (this: unknown, ...args: unknown[]) {
      seen.writes.push(performance.now());
      return original.apply(this, args);
    };
  }
  return seen;
}

// Holds Redis for `ms` (a script blocks the server), so a reply is late on purpose.
const BUSY = `local t = redis.call('TIME')
local start = tonumber(t[1]) * 1000000 + tonumber(t[2])
repeat
  t = redis.call('TIME')
until tonumber(t[1]) * 1000000 + tonumber(t[2]) - start >= tonumber(ARGV[1]) * 1000
return 1`;

describe("coalesceWrites", () => {
  it("sends the commands of one turn in one write, and each caller gets its own reply", async () => {
    const plain = await client();
    const coalesced = await client({ coalesce: true });
    const a = countWrites(plain);
    const b = countWrites(coalesced);
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => coalesced.echo(`m${i}`)));
    expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    expect(b.writes.length).toBe(1);
    // Without it, ioredis writes command by command.
    await Promise.all(Array.from({ length: 20 }, (_, i) => plain.echo(`m${i}`)));
    expect(a.writes.length).toBeGreaterThan(1);
  });

  it("writes a later command while an earlier one is in flight (auto-pipelining would hold it back)", async () => {
    // What the worker's claim lanes rely on: the next batch goes out before the previous returns.
    // The server is busy for 80 ms with the first command (kept short: Redis is shared with other
    // test files); the second is issued 10 ms in.
    const timeline = async (c: Redis) => {
      const seen = countWrites(c);
      const busy = c.eval(BUSY, 0, 80);
      await new Promise((r) => setTimeout(r, 10));
      const issuedAt = performance.now();
      const pinged = c.ping();
      await Promise.all([busy, pinged]);
      return seen.writes[1]! - issuedAt;
    };
    // Written at once, so it reaches Redis while the first is still running.
    expect(await timeline(await client({ coalesce: true }))).toBeLessThan(40);
    // ioredis' auto-pipelining holds it until the first command's reply is in (about 70 ms).
    expect(await timeline(await client({ autoPipelining: true }))).toBeGreaterThan(50);
  });

  it("keeps working across a reconnect (the new socket is corked, not the old one)", async () => {
    const c = await client({ coalesce: true });
    expect(await c.echo("before")).toBe("before");
    const id = await c.client("ID");
    const killer = await client();
    await killer.client("KILL", "ID", String(id));
    await new Promise<void>((resolve) => c.once("ready", () => resolve()));
    const replies = await Promise.all([c.echo("a"), c.echo("b"), c.echo("c")]);
    expect(replies).toEqual(["a", "b", "c"]);
  });
});

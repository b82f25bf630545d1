import { describe, expect, it } from "vitest";
import { MicroBatcher } from "../src/batcher";

describe("MicroBatcher", () => {
  it("coalesces concurrent calls, maps results back in order, and respects maxSize and maxBytes", async () => {
    const batches: number[][] = [];
    const b = new MicroBatcher<number, number>(
      async (items) => {
        batches.push(items);
        return items.map((i) => i * 10);
      },
      { maxSize: 4, maxBytes: 100 },
      undefined,
      (i) => (i === 99 ? 1000 : 10),
    );
    const out = await Promise.all([1, 2, 3, 4, 5, 6, 99, 7].map((i) => b.push(i)));
    expect(out).toEqual([10, 20, 30, 40, 50, 60, 990, 70]);
    expect(batches.every((x) => x.length <= 4)).toBe(true);
    // The oversized item goes alone.
    expect(batches.find((x) => x.includes(99))).toEqual([99]);
    expect(b.flushes).toBe(batches.length);
    expect(b.flushes).toBeLessThan(8);
    expect(b.items).toBe(8);
  });

  it("never puts two items with one key in a batch, and rejects only the failing batch", async () => {
    const batches: string[][] = [];
    const b = new MicroBatcher<string, string>(
      async (items) => {
        batches.push(items);
        if (items.includes("bad")) throw new Error("boom");
        if (items.includes("data")) throw new Error("isolate me");
        return items;
      },
      {},
      (s) => s.split("#")[0]!,
      undefined,
      (err) => (err as Error).message === "isolate me",
    );
    const results = await Promise.allSettled(["a#1", "a#2", "b#1", "a#3"].map((s) => b.push(s)));
    expect(results.every((r) => r.status === "fulfilled")).toBe(true);
    for (const batch of batches) {
      const keys = batch.map((s) => s.split("#")[0]);
      expect(new Set(keys).size).toBe(keys.length);
    }
    expect(batches.length).toBe(3);
    const bad = await Promise.allSettled([b.push("bad"), b.push("x")]);
    expect(bad.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(await b.push("y")).toBe("y");
    // A data error is retried item by item: only the culprit fails.
    const data = await Promise.allSettled([b.push("p"), b.push("data"), b.push("q")]);
    expect(data.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    await b.drain();
  });
});

import { describe, expect, it } from "vitest";
import { AckBatcher } from "../src/ack-batcher";

/** The frames `take` returns, as `tag` (single ack) or `<=tag` (multiple). */
function frames(b: AckBatcher<number>): string[] {
  return b.take().map(([tag, multiple]) => (multiple ? `<=${tag}` : `${tag}`));
}

function deliveredUpTo(b: AckBatcher<number>, n: number, from = 1): void {
  for (let t = from; t <= n; t++) b.delivered(t);
}

describe("AckBatcher", () => {
  it("sends acks of a settled prefix as one multiple ack", () => {
    const b = new AckBatcher<number>();
    deliveredUpTo(b, 5);
    for (const t of [3, 1, 2]) b.ack(t, t);
    expect(frames(b)).toEqual(["<=3"]);
    expect(b.unsettled).toBe(2);
    b.ack(4, 4);
    expect(frames(b)).toEqual(["4"]);
    expect(frames(b)).toEqual([]);
  });

  it("never covers a delivery that is still open: acks after it go one by one", () => {
    const b = new AckBatcher<number>();
    deliveredUpTo(b, 6);
    for (const t of [1, 2, 4, 5, 6]) b.ack(t, t);
    // 3 is still running: a multiple ack at 6 would ack it too.
    expect(frames(b).sort()).toEqual(["4", "5", "6", "<=2"].sort());
    b.ack(3, 3);
    // 4-6 were acked already; 3 alone is left.
    expect(frames(b)).toEqual(["3"]);
    expect(b.unsettled).toBe(0);
  });

  it("lets a range run over deliveries settled elsewhere (nacked or acked at once)", () => {
    const b = new AckBatcher<number>();
    deliveredUpTo(b, 5);
    b.settledElsewhere(2);
    b.settledElsewhere(4);
    b.ack(1, 1);
    b.ack(3, 3);
    b.ack(5, 5);
    expect(frames(b)).toEqual(["<=5"]);
    expect(b.unsettled).toBe(0);
  });

  it("a single settled ack at the front is a plain ack", () => {
    const b = new AckBatcher<number>();
    deliveredUpTo(b, 3);
    b.ack(1, 1);
    expect(frames(b)).toEqual(["1"]);
  });

  it("a delivery held for long: the acks after it go one by one, and only it stays tracked", () => {
    const b = new AckBatcher<number>();
    b.delivered(1); // a task that runs for hours
    let tag = 2;
    for (let turn = 0; turn < 10_000; turn++) {
      const first = tag;
      for (let i = 0; i < 10; i++) b.delivered(tag++);
      for (let t = first; t < tag; t++) b.ack(t, t);
      const out = b.take();
      expect(out.every(([, multiple]) => !multiple)).toBe(true);
      expect(out).toHaveLength(10);
      // Only the held delivery is tracked between turns.
      expect(b.unsettled).toBe(1);
    }
    b.ack(1, 1);
    expect(frames(b)).toEqual(["1"]);
    expect(b.unsettled).toBe(0);
  });

  it("against a model of the server: never acks a running delivery, and every ack lands", () => {
    // A small deterministic PRNG, so a failure replays.
    let seed = 12345;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 16) % n;
    };
    const b = new AckBatcher<number>();
    const serverUnacked = new Set<number>();
    const running = new Set<number>();
    let next = 1;
    const apply = () => {
      for (const [tag, multiple] of b.take()) {
        const covered = multiple ? [...serverUnacked].filter((t) => t <= tag) : [tag];
        for (const t of covered) {
          expect(running.has(t)).toBe(false);
          serverUnacked.delete(t);
        }
      }
    };
    for (let turn = 0; turn < 3000; turn++) {
      for (let i = rand(8); i > 0; i--) {
        b.delivered(next);
        serverUnacked.add(next);
        running.add(next++);
      }
      for (const t of [...running]) {
        const r = rand(10);
        if (r < 5) continue;
        running.delete(t);
        if (r < 9) b.ack(t, t);
        else {
          // A nack goes out at once.
          b.settledElsewhere(t);
          serverUnacked.delete(t);
        }
      }
      apply();
    }
    for (const t of [...running]) {
      running.delete(t);
      b.ack(t, t);
    }
    apply();
    expect(serverUnacked.size).toBe(0);
    expect(b.unsettled).toBe(0);
    expect(b.waiting).toBe(false);
  });
});

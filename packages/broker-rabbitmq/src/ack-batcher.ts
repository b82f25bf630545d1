/**
 * Coalesces the acks of one consumer channel. Acks asked for in one turn of the event loop go out
 * together on the next: those that, with everything delivered before them, are settled become ONE
 * `basic.ack` with `multiple` set (RabbitMQ then acks every unacked delivery up to that tag); the
 * others go one by one. A short-task worker acks roughly in delivery order, so most turns send one
 * frame where they sent one per task, which RabbitMQ and the socket both handle once.
 *
 * `multiple` is only safe because the batcher sees every delivery of the channel (`delivered`) and
 * every settlement sent around it (`settledElsewhere`: nacks, direct acks): a tag is covered by a
 * multiple ack only when it and every earlier tag are settled, and a settlement sent earlier on the
 * same channel reaches RabbitMQ first, so the multiple ack never touches a delivery still running.
 *
 * One batcher per channel; it owns no I/O. The owner sends what `take` returns, and drops the
 * batcher with its channel (a delivery tag means nothing on another channel).
 */
export class AckBatcher<M> {
  /** Delivery tags in delivery order (increasing), from `head` on not yet known settled at the front. */
  private open: number[] = [];
  private head = 0;
  /** Tags settled while an earlier tag is still open: popped once the front reaches them. */
  private readonly settled = new Set<number>();
  /** Acks asked for since the last `take`, by tag. */
  private pending = new Map<number, M>();

  /** Every delivery of the channel, in the order RabbitMQ delivered them. */
  delivered(tag: number): void {
    this.open.push(tag);
  }

  /** A delivery settled without the batcher (a nack, a reject, an ack sent at once). */
  settledElsewhere(tag: number): void {
    this.settled.add(tag);
  }

  /** Queues an ack; `take` returns it. */
  ack(tag: number, message: M): void {
    this.pending.set(tag, message);
    this.settled.add(tag);
  }

  /** Acks are waiting for `take`. */
  get waiting(): boolean {
    return this.pending.size > 0;
  }

  /**
   * The frames to send, in order: `[message, multiple]`. At most one is `multiple` (the first);
   * the rest are single acks of deliveries with an unsettled delivery before them.
   */
  take(): Array<[M, boolean]> {
    const pending = this.pending;
    if (pending.size === 0) return [];
    this.pending = new Map();
    const out: Array<[M, boolean]> = [];
    let last: M | undefined;
    let covered = 0;
    const open = this.open;
    let head = this.head;
    while (head < open.length) {
      const tag = open[head]!;
      if (!this.settled.has(tag)) break;
      this.settled.delete(tag);
      head++;
      const m = pending.get(tag);
      if (m !== undefined) {
        pending.delete(tag);
        last = m;
        covered++;
      }
    }
    // Drop the consumed front now and then, so the array does not grow with the channel's life.
    if (head > 1024 && head * 2 > open.length) {
      this.open = open.slice(head);
      head = 0;
    }
    this.head = head;
    if (last !== undefined) out.push([last, covered > 1]);
    for (const m of pending.values()) out.push([m, false]);
    return out;
  }

  /** Deliveries neither settled nor queued (for tests and stats). */
  get unsettled(): number {
    let n = 0;
    for (let i = this.head; i < this.open.length; i++) if (!this.settled.has(this.open[i]!)) n++;
    return n;
  }
}

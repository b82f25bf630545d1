/**
 * Coalesces the acks of one consumer channel. Acks asked for in one turn of the event loop go out
 * together on the next: those whose delivery, and every delivery before it, are settled become ONE
 * `basic.ack` with `multiple` set (RabbitMQ then acks every unacked delivery up to that tag); the
 * others go one by one. A short-task worker acks roughly in delivery order, so most turns send one
 * frame where they sent one per task, which RabbitMQ and the socket both handle once.
 *
 * `multiple` is only safe because the batcher sees every delivery of the channel (`delivered`) and
 * every settlement sent around it (`settledElsewhere`: nacks, direct acks): a tag is covered by a
 * multiple ack only when no earlier delivery is still unsettled, and a settlement sent earlier on the
 * same channel reaches RabbitMQ first, so the multiple ack never touches a delivery still running.
 *
 * It keeps only the unsettled deliveries (at most the prefetch) and the acks of the current turn, so
 * a task that runs for hours while thousands of others finish costs nothing but single acks.
 *
 * One batcher per channel; it owns no I/O. The owner sends what `take` returns, and drops the
 * batcher with its channel (a delivery tag means nothing on another channel).
 */
export class AckBatcher<M> {
  /** Delivered and not settled, in delivery order (so by increasing tag: the first is the oldest). */
  private readonly open = new Set<number>();
  /** Acks asked for since the last `take`, by tag. */
  private pending = new Map<number, M>();

  /** Every delivery of the channel, in the order RabbitMQ delivered them. */
  delivered(tag: number): void {
    this.open.add(tag);
  }

  /** A delivery settled without the batcher (a nack, a reject, an ack sent at once). */
  settledElsewhere(tag: number): void {
    this.open.delete(tag);
  }

  /** Queues an ack; `take` returns it. */
  ack(tag: number, message: M): void {
    this.pending.set(tag, message);
    this.open.delete(tag);
  }

  /** Acks are waiting for `take`. */
  get waiting(): boolean {
    return this.pending.size > 0;
  }

  /** Deliveries neither settled nor queued. */
  get unsettled(): number {
    return this.open.size;
  }

  /**
   * The frames to send, in order: `[message, multiple]`. At most one is `multiple` (the first): it
   * covers every queued ack older than the oldest unsettled delivery; the rest are single acks.
   */
  take(): Array<[M, boolean]> {
    const pending = this.pending;
    if (pending.size === 0) return [];
    this.pending = new Map();
    let oldestOpen = Number.POSITIVE_INFINITY;
    for (const tag of this.open) {
      oldestOpen = tag;
      break;
    }
    let last = -1;
    let lastMessage: M | undefined;
    let covered = 0;
    const singles: Array<[M, boolean]> = [];
    for (const [tag, m] of pending) {
      if (tag < oldestOpen) {
        covered++;
        if (tag > last) {
          last = tag;
          lastMessage = m;
        }
      } else singles.push([m, false]);
    }
    return covered > 0 ? [[lastMessage as M, covered > 1], ...singles] : singles;
  }
}

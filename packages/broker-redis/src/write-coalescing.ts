import type { Redis } from "ioredis";

interface Corkable {
  cork(): void;
  uncork(): void;
  writable?: boolean;
}

/**
 * Makes a client this package created send every command issued in one turn of the event loop in
 * one socket write, by corking its socket at the turn's first command and uncorking it on
 * `setImmediate` (when ioredis' own auto-pipelining would flush).
 *
 * Why not ioredis' `enableAutoPipelining`: it keeps one auto-pipeline in flight per connection and
 * queues every later command until that pipeline's last reply is in. A worker's claim then waits for
 * the previous batch's writes to return, so this process and Redis only ever take turns; with plain
 * writes, batches overlap (Redis runs one while this process handles another). It also builds a
 * Pipeline object per flush, which a single `addTask` pays for in full.
 *
 * Only for clients this package owns: a caller's client is left as the caller configured it.
 */
export function coalesceWrites(client: Redis): void {
  const target = client as unknown as {
    stream?: Corkable;
    sendCommand(command: unknown, stream?: unknown): unknown;
  };
  const send = target.sendCommand;
  let corked: Corkable | undefined;
  const uncork = () => {
    const s = corked;
    corked = undefined;
    s?.uncork();
  };
  target.sendCommand = function (this: unknown, command: unknown, stream?: unknown) {
    const socket = target.stream;
    if (!stream && socket && socket !== corked && socket.writable !== false) {
      // A new socket after a reconnect: let the old one go, cork the new one.
      if (corked) uncork();
      socket.cork();
      corked = socket;
      setImmediate(uncork);
    }
    return send.call(this, command, stream);
  };
}

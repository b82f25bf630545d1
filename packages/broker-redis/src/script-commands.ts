import { createHash } from "node:crypto";
import type { Cluster, Redis } from "ioredis";

type Arg = string | Buffer | number;

/** The scripts put on each client, by name, with their SHA1. */
const defined = new WeakMap<object, Map<string, string>>();

/**
 * Puts a Lua script on a client as a command (`name` and `name + "Buffer"`), sent as EVALSHA with
 * EVAL once on NOSCRIPT (after a SCRIPT FLUSH or a server restart). Unlike ioredis' `defineCommand`,
 * the script is not registered in the client's script set, which ioredis copies onto every
 * pipeline it builds, auto-pipelines included: with a dozen scripts that copy was about a tenth of
 * the CPU of a single `addTask`. `numberOfKeys` undefined: the caller passes it first.
 * The same name with the same text on the same client is a no-op.
 */
export function defineScript(
  client: Redis | Cluster,
  name: string,
  lua: string,
  numberOfKeys?: number,
): void {
  const sha = createHash("sha1").update(lua).digest("hex");
  const target = client as unknown as Record<string, unknown>;
  let known = defined.get(client);
  if (!known) {
    known = new Map();
    defined.set(client, known);
  }
  if (known.get(name) === sha) return;
  known.set(name, sha);
  // ioredis has the Buffer variants at run time; its types leave them out.
  const commands = client as unknown as Record<
    "evalsha" | "evalshaBuffer" | "eval" | "evalBuffer",
    (script: string, ...args: Arg[]) => Promise<unknown>
  >;
  const head: Arg[] = numberOfKeys === undefined ? [] : [numberOfKeys];
  const run =
    (buffer: boolean) =>
    async (...args: Arg[]): Promise<unknown> => {
      const all = head.length ? [...head, ...args] : args;
      try {
        return await (buffer ? commands.evalshaBuffer(sha, ...all) : commands.evalsha(sha, ...all));
      } catch (error) {
        if (!(error instanceof Error) || !error.message.includes("NOSCRIPT")) throw error;
        return buffer ? commands.evalBuffer(lua, ...all) : commands.eval(lua, ...all);
      }
    };
  Object.defineProperty(target, name, { value: run(false), configurable: true, writable: true });
  Object.defineProperty(target, `${name}Buffer`, { value: run(true), configurable: true, writable: true });
}

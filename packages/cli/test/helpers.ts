import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const pkgRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
export const bin = join(pkgRoot, "dist", "bin.js");
export const fixture = (name: string) => join(pkgRoot, "test", "fixtures", name);

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** One `EVENT <name> <json>` line the fixture app printed. */
export interface FixtureEvent {
  event: string;
  payload: Record<string, unknown>;
}

/** A running `qtasks` child process, with its output collected as it comes. */
export class Cli {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<Finished>;
  exitedAt: number | undefined;
  private waiters: (() => void)[] = [];

  constructor(args: string[], env: Record<string, string | undefined> = {}) {
    this.child = spawn(process.execPath, [bin, ...args], {
      cwd: pkgRoot,
      env: { ...process.env, QTASKS_LOG_LEVEL: undefined, QTASKS_LOG_FORMAT: undefined, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      this.stdout += d;
      this.wake();
    });
    this.child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.stderr += d;
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.on("close", (code, signal) => {
        this.exitedAt = Date.now();
        this.wake();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  events(name?: string): FixtureEvent[] {
    const out: FixtureEvent[] = [];
    for (const line of this.stdout.split("\n")) {
      const m = /^EVENT (\S+) (.*)$/.exec(line);
      if (m && (!name || m[1] === name)) out.push({ event: m[1]!, payload: JSON.parse(m[2]!) });
    }
    return out;
  }

  /** Resolves once `check()` is true; rejects (with the output so far) after `timeoutMs`. */
  async waitFor(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (this.exitedAt !== undefined && !check())
        throw new Error(
          `process exited while waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
        );
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  waitForEvents(name: string, count: number, timeoutMs?: number): Promise<void> {
    return this.waitFor(() => this.events(name).length >= count, `${count} ${name} events`, timeoutMs);
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    this.child.kill(signal);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Runs `qtasks` to completion. */
export async function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<Finished> {
  const cli = new Cli(args, env);
  const timer = setTimeout(() => cli.kill("SIGKILL"), 45_000);
  try {
    return await cli.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Stack frames look like `    at fn (file:line:col)`. */
export const STACK_FRAME = /^\s+at .+/m;

/** The JSON document a `--json` command printed (the fixture's EVENT lines left out). */
// biome-ignore lint/suspicious/noExplicitAny: the tests assert the shape of the parsed JSON
export function jsonOut(stdout: string): any {
  return JSON.parse(
    stdout
      .split("\n")
      .filter((l) => !l.startsWith("EVENT "))
      .join("\n"),
  );
}

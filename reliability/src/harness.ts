import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { QueueTasks, silentLogger, type TaskRecord } from "@qtasks/core";
import { type Backend, type BackendConfig, cleanup, makeBroker, makeStorage } from "./backends";
import { type Accounting, account } from "./checker";
import { Journal, readJournals } from "./journal";

const here = fileURLToPath(new URL(".", import.meta.url));

/** A worker child process and what it printed on stderr. */
export interface WorkerProcess {
  child: ChildProcess;
  stderr: string[];
  exited: Promise<number | null>;
}

/** One scenario run: a namespace, a journal directory, a client app, and its worker processes. */
export class Scenario {
  readonly config: BackendConfig;
  readonly journalDir: string;
  readonly client: QueueTasks;
  readonly journal: Journal;
  readonly workers: WorkerProcess[] = [];
  /** harness id -> first uuid */
  readonly uuids = new Map<string, string>();

  constructor(
    backend: Backend,
    options: {
      leaseSeconds?: number;
      deliveryLimit?: number;
      heartbeat?: number;
      urls?: Partial<BackendConfig>;
    } = {},
  ) {
    this.config = {
      broker: backend.broker,
      storage: backend.storage,
      appName: `rel_${randomUUID().slice(0, 8)}`,
      leaseSeconds: options.leaseSeconds ?? 2,
      deliveryLimit: options.deliveryLimit ?? 5,
      ...(options.heartbeat === undefined ? {} : { heartbeat: options.heartbeat }),
      ...options.urls,
    };
    this.journalDir = mkdtempSync(join(tmpdir(), "qtasks-rel-"));
    this.journal = new Journal(this.journalDir, "client");
    this.client = new QueueTasks({
      name: this.config.appName,
      broker: makeBroker(this.config),
      storage: makeStorage(this.config),
      logger: silentLogger,
    });
  }

  /** Starts a worker process and waits until it claims. */
  async startWorker(
    options: { concurrency?: number; shutdownTimeout?: number; env?: Record<string, string> } = {},
  ): Promise<WorkerProcess> {
    // `node --import tsx` (not the tsx CLI, which forks a second process): the pid we signal is the
    // pid that runs the tasks.
    const child = spawn(process.execPath, ["--import", "tsx", join(here, "worker-main.ts")], {
      cwd: join(here, ".."),
      env: {
        ...process.env,
        QTASKS_REL_CONFIG: JSON.stringify(this.config),
        QTASKS_REL_JOURNAL: this.journalDir,
        QTASKS_REL_CONCURRENCY: String(options.concurrency ?? 10),
        QTASKS_REL_SHUTDOWN: String(options.shutdownTimeout ?? 25),
        ...options.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stderr: string[] = [];
    child
      .stderr!.setEncoding("utf8")
      .on("data", (d: string) => stderr.push(...d.split("\n").filter(Boolean)));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout!.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        if (out.includes("ready")) resolve();
      });
      exited.then((code) =>
        reject(new Error(`worker exited with ${code} before ready:\n${stderr.join("\n")}`)),
      );
    });
    const w = { child, stderr, exited };
    this.workers.push(w);
    return w;
  }

  /** Keeps `count` workers running: a worker that exits is replaced, until `stop()` is called. */
  supervise(
    count: number,
    options: Parameters<Scenario["startWorker"]>[0] = {},
  ): { stop(): void; restarts(): number } {
    let stopped = false;
    let restarts = 0;
    const keep = async (w: WorkerProcess) => {
      await w.exited;
      if (stopped) return;
      restarts++;
      const next = await this.startWorker(options).catch(() => undefined);
      if (next) void keep(next);
    };
    void (async () => {
      for (let i = 0; i < count; i++) void keep(await this.startWorker(options));
    })();
    return {
      stop: () => {
        stopped = true;
      },
      restarts: () => restarts,
    };
  }

  /** Enqueues `jobs` of `taskName`, journaling each attempt and acknowledgement. */
  async enqueue(
    taskName: string,
    jobs: { id: string; ms?: number; laterMs?: number; fail?: boolean }[],
    batch = 200,
  ): Promise<void> {
    for (let i = 0; i < jobs.length; i += batch) {
      const slice = jobs.slice(i, i + batch);
      for (const j of slice) this.journal.record({ e: "attempt", id: j.id, ts: Date.now() });
      const handles = await this.client.addTasks(slice.map((j) => ({ task: taskName, args: [j] })));
      handles.forEach((h, k) => {
        const id = slice[k]!.id;
        this.uuids.set(id, h.uuid);
        this.journal.record({ e: "acked", id, uuid: h.uuid, ts: Date.now() });
      });
    }
  }

  /**
   * Enqueues jobs one by one at `perSecond`, as a careful producer would through an outage: each job
   * keeps its uuid across retries (an idempotent enqueue), and a failed enqueue is retried until it
   * is acknowledged or `giveUpSeconds` pass. Resolves once every enqueue settled.
   */
  async produce(
    taskName: string,
    jobs: { id: string; ms?: number }[],
    perSecond: number,
    giveUpSeconds = 60,
  ): Promise<{ settled: number; failures: number }> {
    let failures = 0;
    const pending: Promise<void>[] = [];
    const start = Date.now();
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      const due = start + (i * 1000) / perSecond;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const uuid = randomUUID();
      this.journal.record({ e: "attempt", id: job.id, ts: Date.now() });
      pending.push(
        (async () => {
          const giveUp = Date.now() + giveUpSeconds * 1000;
          for (;;) {
            try {
              await this.client.with({ uuid }).addTask(taskName, job);
              this.uuids.set(job.id, uuid);
              this.journal.record({ e: "acked", id: job.id, uuid, ts: Date.now() });
              return;
            } catch (error) {
              failures++;
              if (Date.now() > giveUp) {
                this.journal.record({ e: "rejected", id: job.id, ts: Date.now(), error: String(error) });
                return;
              }
              await new Promise((r) => setTimeout(r, 250));
            }
          }
        })(),
      );
    }
    await Promise.all(pending);
    return { settled: pending.length, failures };
  }

  /** Waits until every acknowledged task is final (following retries), or the deadline. */
  async waitAllFinal(deadlineSeconds: number): Promise<Map<string, TaskRecord | null>> {
    const deadline = Date.now() + deadlineSeconds * 1000;
    const finals = new Map<string, TaskRecord | null>();
    await Promise.all(
      [...this.uuids].map(async ([id, uuid]) => {
        const left = Math.max(0.1, (deadline - Date.now()) / 1000);
        finals.set(
          id,
          await this.client
            .handle(uuid)
            .wait({ timeout: left })
            .catch(() => null),
        );
      }),
    );
    return finals;
  }

  /** Journals + final records -> the accounting figures. */
  async account(deadlineSeconds: number): Promise<Accounting> {
    const finals = await this.waitAllFinal(deadlineSeconds);
    return account(readJournals(this.journalDir), finals);
  }

  /** Stops every worker (SIGKILL) and the client, and removes everything the scenario created. */
  async dispose(): Promise<void> {
    for (const w of this.workers)
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
    await Promise.all(this.workers.map((w) => w.exited));
    await this.client.stop({ timeout: 0 }).catch(() => {});
    // A leftover would pile up on the shared services: say so loudly.
    await cleanup(this.config).catch((error) => console.error("reliability cleanup failed:", error));
    rmSync(this.journalDir, { recursive: true, force: true });
  }
}

/** Resolves when `predicate` holds (checked every 50 ms), or rejects after `seconds`. */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  seconds: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Executions started so far (from the journals). */
export function startedCount(dir: string, pid?: number): number {
  return readJournals(dir).filter((e) => e.e === "start" && (pid === undefined || e.pid === pid)).length;
}

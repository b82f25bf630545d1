import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type QueueTasksEvents, TaskFailedError } from "@qtasks/core";
import {
  app,
  applyCoupon,
  chargePayment,
  componentsLabel,
  componentsShared,
  fetchExchangeRates,
  type Order,
  placeOrder,
  plugin,
  renderInvoice,
} from "./app";
import { sendEmail } from "./lib/notifications";
import { logWorkerEvents, show } from "./narrate";
import { packOrder, reserveStock } from "./routers/inventory";
import { printLabel } from "./routers/labels";

/**
 * The demo: a client that enqueues orders and prints, step by step, what the worker does with them.
 * `QTASKS_WORKER=process` (or `--worker=process`) runs the worker in its own process; otherwise it
 * runs in this one.
 */
const workerMode =
  process.argv.find((a) => a.startsWith("--worker="))?.slice("--worker=".length) ??
  process.env.QTASKS_WORKER ??
  "in-process";
const say = (line = "") => console.log(line);
/** A demo started with settings it cannot run: one line on stderr, exit 2, no stack trace. */
class DemoUsageError extends Error {}
const step = (title: string) => say(`\n== ${title}`);
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Seconds until the email cancelled in 5a comes due (short: the demo waits for it, see `dropped`). */
const LATER_DELAY = 2;

const order: Order = {
  id: "A-1001",
  customer: "ada",
  email: "ada@example.com",
  sku: "  mug-01 ",
  quantity: 2,
  card: "4242-4242-4242-0001",
  total: 24.5,
};

// Every event this process sees. In process mode the worker's events are printed by the worker.
const seen = new Map<string, number>();
for (const name of [
  "task:enqueue",
  "task:start",
  "task:success",
  "task:error",
  "task:retry",
  "task:cancel",
  "worker:start",
  "worker:stop",
] as (keyof QueueTasksEvents)[])
  app.events.on(name, () => seen.set(name, (seen.get(name) ?? 0) + 1));
app.events.on("task:retry", (e) =>
  say(
    `   event task:retry: ${e.taskName} failed (${errorName(e.error)}), retried as ${e.retryUuid.slice(0, 8)}`,
  ),
);

async function main(): Promise<void> {
  // Refused before anything is enqueued: a refusal after step 1 would leave its tasks behind.
  if (workerMode !== "in-process" && workerMode !== "process")
    throw new DemoUsageError(`--worker (QTASKS_WORKER) must be in-process or process, got ${workerMode}`);
  if (workerMode === "process" && !componentsShared)
    throw new DemoUsageError(
      `a worker in another process needs a shared broker and storage, and this run is on ${componentsLabel}: set QTASKS_BROKER (redis, rabbitmq) and QTASKS_STORAGE (redis, postgres), or drop QTASKS_WORKER=process`,
    );
  say("qtasks demo: an order-processing app");
  say(`app "${app.name}" on ${componentsLabel}, worker ${workerMode}`);
  say(
    `tasks: ${app
      .listTasks()
      .map((t) => t.taskName)
      .join(", ")}`,
  );

  step("1. Priorities: six labels are enqueued in one batch before any worker runs");
  const labelHandles = await app.addTasks([
    { task: printLabel, args: ["standard"], priority: 0 },
    { task: printLabel, args: ["express"], priority: 10 },
    { task: printLabel, args: ["bulk"], priority: -5 },
    { task: printLabel, args: ["express-2"], priority: 10 },
    { task: printLabel, args: ["gift"], priority: 3 },
    { task: printLabel, args: ["vip"], priority: 0, extra: { vip: true } },
  ]);
  say("   enqueued: standard(0) express(10) bulk(-5) express-2(10) gift(3) vip(0, +50 by the plugin)");

  const worker = await startWorker();

  const printed = (await Promise.all(labelHandles.map((h) => h.result()))) as {
    label: string;
    position: number;
  }[];
  const startOrder = printed.sort((a, b) => a.position - b.position).map((p) => p.label);
  say(`   the worker started them in this order: ${startOrder.join(" > ")}`);

  step("2. An order: place_order (echo task) runs nested tasks and reads its context");
  const placed = await placeOrder.addTask(order);
  say(`   enqueued place_order ${placed.uuid}`);
  const summary = await placed.result();
  say(`   self: ${show(summary.self)}`);
  say(`   ctx: ${show(summary.ctx)}`);
  // The worker's logger: the CLI's `run` logs at info unless told otherwise, the app itself at warn.
  const workerLevel = process.env.QTASKS_LOG_LEVEL ?? (workerMode === "process" ? "info" : "warn");
  say(
    workerLevel === "info" || workerLevel === "debug"
      ? `   (ctx.getLogger("orders") logged "placing order": the INFO line on stderr${workerMode === "process" ? ", from the worker" : ""})`
      : '   (ctx.getLogger("orders") logged "placing order": run with QTASKS_LOG_LEVEL=info to see it)',
  );
  say(`   reserve_stock (inventory router; middleware normalised "${order.sku}"): ${show(summary.stock)}`);
  say(
    `   reserve_stock's first record ended "${summary.ctx.firstReserveStatus}": WarehouseBusyError is in retryOnExc, the retry succeeded`,
  );
  say(`   charge_payment (custom executor + decode): ${show(summary.payment)}`);
  say(`   send_email (a shared task from a library module) ran as ${summary.confirmationEmail.slice(0, 8)}`);
  const mailRecord = await app.get(summary.confirmationEmail);
  say(
    `   its record names its parent: parentUuid = ${mailRecord?.parentUuid}${mailRecord?.parentUuid === placed.uuid ? " (place_order)" : " (not place_order!)"}`,
  );

  step("3. Streaming: pack_order is a generator; the client prints outputs as they arrive");
  const packing = await packOrder.addTask(["MUG-01", "MUG-01", "TEA-07"]);
  const started = Date.now();
  for await (const out of packing.stream()) say(`   <- ${String(out)}  (+${Date.now() - started} ms)`);
  say(`   final result: ${show(await packing.result())}`);

  step("4. Delay: a reminder email enqueued with delay 1 s");
  const t0 = Date.now();
  const reminder = await sendEmail.with({ delay: 1 }).addTask(order.email, "How was your mug?");
  await reminder.wait();
  say(`   ran ${((Date.now() - t0) / 1000).toFixed(1)} s after it was enqueued`);

  step("5. Cancellation");
  const later = await sendEmail.with({ delay: LATER_DELAY }).addTask(order.email, "Never sent");
  const laterDue = Date.now() + LATER_DELAY * 1000;
  say(`   a.   a delayed email, cancelled before it ran: ${await app.cancel(later.uuid, "order refunded")}`);
  say(`        its record: ${(await later.wait()).status}`);
  const invoice = await renderInvoice.addTask(order.id, 50);
  while ((await invoice.get())?.status !== "process") await wait(20);
  say(
    `   b.   render_invoice is running (ctx.sleep); the client cancels it: ${await invoice.cancel("customer closed the tab")}`,
  );
  const invoiceRecord = await invoice.wait();
  say(`        its record: ${invoiceRecord.status} (${invoiceRecord.cancelReason})`);
  const coupon = await (await applyCoupon.addTask("EXPIRED10")).wait();
  say(`   c.   apply_coupon cancels itself with ctx.cancel: ${coupon.status} (${coupon.cancelReason})`);

  step("6. Failures, and what handles them");
  const rates = await (await fetchExchangeRates.addTask()).wait();
  say(`   maxTime 0.3 s on a hung call: ${rates.status} ${rates.errorName}`);
  const unknown = await reserveStock.addTask("NOPE-9", 1);
  const unknownRecord = await unknown.wait();
  say(
    `   an error not in retryOnExc: ${unknownRecord.status} ${unknownRecord.errorName}, retries ${unknownRecord.retries}`,
  );
  try {
    await unknown.result();
  } catch (error) {
    say(
      `   handle.result() rejects with ${error instanceof TaskFailedError ? "TaskFailedError" : String(error)}`,
    );
  }
  const declined = await chargePayment.addTask("A-1002", "4000-0000-0000-0002", 99);
  say(`   ctx.pluginError, handled by the orders plugin: ${show(await declined.result())}`);
  const blocked = await placeOrder.addTask({ ...order, id: "A-1003", customer: "mallory" });
  say(`   app-wide middleware stops a run before the handler: ${show(await blocked.result())}`);

  step("7. Events and statistics");
  if (workerMode === "in-process") {
    // A client sees a final record as soon as it is stored; the worker's events follow its ack.
    const finished = () => Object.values(plugin.finished).reduce((a, b) => a + b, 0);
    const deadline = Date.now() + 5000;
    while (finished() < (seen.get("task:start") ?? 0) && Date.now() < deadline) await wait(20);
  }
  say(`   events seen by this process: ${[...seen].map(([k, v]) => `${k} x${v}`).join(", ")}`);
  if (workerMode === "in-process") say(`   finished runs counted by the plugin: ${show(plugin.finished)}`);
  const stats = await app.stats();
  say(`   statuses in storage: ${show(stats.statuses)}`);
  say(`   the email cancelled in 5a: ${await dropped(laterDue)}`);

  await worker.stop();
  await app.stop();
  say("\ndone.");
}

/**
 * The envelope of the email cancelled in 5a stays in the broker until it comes due; a worker then
 * acks it without running it (its record is final). Waited for, so the demo leaves no message behind.
 */
async function dropped(due: number): Promise<string> {
  // RabbitMQ counts no delayed messages: wait for the due time first, then for an empty queue.
  while (Date.now() < due + 500) await wait(50);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { broker } = await app.stats();
    const left =
      Object.values(broker.ready).reduce((a, b) => a + b, 0) + (broker.delayed ?? 0) + (broker.inFlight ?? 0);
    if (left === 0) return "its envelope came due and the worker dropped it unrun (its record was final)";
    if (Date.now() > deadline) return `${left} envelope(s) still in the broker`;
    await wait(50);
  }
}

interface RunningWorker {
  stop(): Promise<void>;
}

/** Starts the worker in this process, or in its own process. */
async function startWorker(): Promise<RunningWorker> {
  if (workerMode === "in-process") {
    await app.start();
    say(`   worker started in this process (concurrency ${app.currentWorker?.concurrency})`);
    return { stop: async () => {} };
  }
  await app.start({ worker: false }); // this process is a client only
  const child = spawnWorker();
  say(`   worker started in its own process (pid ${child.pid})`);
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** The worker in its own process, through the CLI: `qtasks run --app src/app.ts#app`. */
function spawnWorker(): ChildProcess {
  const cwd = fileURLToPath(new URL("..", import.meta.url));
  // The `qtasks` binary of @qtasks/cli, run with this Node (no npx wrapper between us and the
  // worker, so SIGTERM reaches it and its exit reaches us).
  const require = createRequire(import.meta.url);
  const cliDir = dirname(require.resolve("@qtasks/cli/package.json"));
  const bin = join(cliDir, (require("@qtasks/cli/package.json") as { bin: { qtasks: string } }).bin.qtasks);
  const child = spawn(process.execPath, [bin, "run", "--app", "src/app.ts#app"], {
    cwd,
    env: { ...process.env, QTASKS_DEMO_ROLE: "worker" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  createInterface({ input: child.stdout! }).on("line", (line) => say(`   [worker] ${line}`));
  return child;
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : String(error);
}

// In-process mode the worker's events are printed here too, when asked for.
if (process.env.QTASKS_DEMO_VERBOSE === "1") logWorkerEvents(app, (l) => say(`   [event] ${l}`));

main().catch(async (error) => {
  if (error instanceof DemoUsageError) {
    console.error(`demo: ${error.message}`);
    await app.stop().catch(() => {});
    process.exit(2);
  }
  console.error(error);
  await app.stop().catch(() => {});
  process.exit(1);
});

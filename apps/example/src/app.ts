import { ConsoleLogger, type LogLevel, QueueTasks } from "@qtasks/core";
import { componentsFromEnv } from "./components";
import { TimingExecutor } from "./executors";
import { auditLog, sendEmail } from "./lib/notifications";
import { blockList } from "./middleware";
import { logWorkerEvents } from "./narrate";
import { ordersPlugin } from "./plugins";
import { inventory, reserveStock } from "./routers/inventory";
import { labels } from "./routers/labels";

/** One order, as the shop front sends it. */
export interface Order {
  id: string;
  customer: string;
  email: string;
  sku: string;
  quantity: number;
  card: string;
  total: number;
}

const components = await componentsFromEnv();
export const plugin = ordersPlugin();
const level = (process.env.QTASKS_LOG_LEVEL ?? "warn") as LogLevel;

/**
 * The order-processing app. With no env vars it runs on the in-memory broker and storage (no
 * services); `QTASKS_BROKER` / `QTASKS_STORAGE` choose real ones (see `components.ts`).
 */
export const app = new QueueTasks({
  name: process.env.QTASKS_APP_NAME ?? "example",
  broker: components.broker,
  storage: components.storage,
  globalConfig: components.globalConfig,
  logger: new ConsoleLogger({ level }),
  plugins: [plugin],
  config: { maxTasksProcess: 4, defaultWaitTimeout: 60, shop: "qtasks demo shop" },
});
export const componentsLabel = components.label;
export const componentsShared = components.shared;

// A worker started for the demo (by `qtasks run` or src/worker.ts) prints what it does.
if (process.env.QTASKS_DEMO_ROLE === "worker") logWorkerEvents(app, (line) => console.log(line));

app.includeRouter(inventory);
app.includeRouter(labels);
app.addMiddleware(blockList);

/**
 * An echo task: `self` comes first. It reads its context (every `ctx` accessor) and runs nested
 * tasks with `self.addTask`, waiting on them; the worker frees this run's slot while it waits.
 */
export const placeOrder = app.task(
  { name: "place_order", echo: true, priority: 5, description: "Reserve, charge, confirm" },
  async (self, order: Order) => {
    const { ctx } = self;
    const log = ctx.getLogger("orders");
    log.info("placing order", { order: order.id });
    const meta = await ctx.getMetadata(); // this run's record (cached after the first read)

    const reserved = await self.addTask(reserveStock, order.sku, order.quantity);
    const stock = await reserved.result();
    const charged = await self.addTask(chargePayment, order.id, order.card, order.total);
    const payment = await charged.result();
    const mail = await self.addTask(sendEmail, order.email, `Order ${order.id} confirmed`);
    await self.with({ priority: -20 }).addTask(auditLog, "order-placed", { id: order.id });

    const reserveRecord = await ctx.getTask(reserved.uuid); // another task's record
    return {
      order: order.id,
      stock,
      payment,
      confirmationEmail: mail.uuid,
      self: { taskName: self.taskName, priority: self.priority, description: self.description },
      ctx: {
        taskUuid: ctx.taskUuid,
        attempt: ctx.attempt,
        shop: ctx.getConfig().shop,
        maxTasksProcess: ctx.getConfig().maxTasksProcess,
        metadataStatus: meta.status,
        firstReserveStatus: reserveRecord?.status,
        broker: ctx.getComponent("broker").name,
        storage: ctx.getComponent("storage").name,
        workerConcurrency: ctx.getComponent("worker").concurrency,
      },
    };
  },
);

/**
 * Runs under a custom executor, applies `decode` to its result, and raises `ctx.pluginError` for a
 * declined card, which the orders plugin turns into a manual-review outcome.
 */
export const chargePayment = app.task(
  {
    name: "charge_payment",
    echo: true,
    executor: TimingExecutor,
    decode: (result) => ({ ...(result as object), currency: "EUR" }),
    extra: { provider: "demo-pay" },
  },
  async (self, orderId: string, card: string, amount: number) => {
    await self.ctx.sleep(0.05); // talking to the payment provider
    if (card.endsWith("0002"))
      self.ctx.pluginError("card declined by the issuer", { reason: "card-declined", orderId });
    return { orderId, charged: true, amount, provider: self.extra.provider as string };
  },
);

/** Cancels itself with `ctx.cancel(reason)`: the task ends `cancel`, not `error`. */
export const applyCoupon = app.task({ name: "apply_coupon", echo: true }, (self, code: string) => {
  if (code.startsWith("EXPIRED")) self.ctx.cancel(`coupon ${code} has expired`);
  return { code, discount: 10 };
});

/**
 * A long task that sleeps with `ctx.sleep`, so a cancellation from a client interrupts it at once
 * (`ctx.signal` is aborted too, for code that takes a signal).
 */
export const renderInvoice = app.task(
  { name: "render_invoice", echo: true, maxTime: 60 },
  async (self, orderId: string, pages: number) => {
    for (let page = 1; page <= pages; page++) await self.ctx.sleep(0.2);
    return { orderId, pages, aborted: self.ctx.signal.aborted };
  },
);

/** `maxTime`: past 0.3 s the run's signal is aborted and it ends with `TaskTimeoutError`. */
export const fetchExchangeRates = app.task({ name: "fetch_exchange_rates", maxTime: 0.3 }, async () => {
  await new Promise((r) => setTimeout(r, 2000)); // a hung upstream
  return { EURUSD: 1.1 };
});

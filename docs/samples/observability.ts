// #region setup
import { QueueTasks } from "@qtasks/core";
import { OpenTelemetryPlugin, traceLogFields } from "@qtasks/opentelemetry";
import pino from "pino";

// Start your OpenTelemetry SDK first (NodeSDK, or a tracer provider and a context manager): the
// plugin records through the global providers unless you pass tracerProvider / meterProvider.
const telemetry = new OpenTelemetryPlugin();

export const app = new QueueTasks({
  name: "shop",
  // pino as it is: qtasks adapts it. The mixin adds trace_id and span_id to every line.
  logger: pino({ mixin: traceLogFields }),
  plugins: [telemetry],
});
// The queue-wide gauges (tasks by status, workers alive) and the dead-letter count read the app.
telemetry.observe(app);

export const charge = app.task({ name: "charge", echo: true, retry: 2 }, async (self, orderId: string) => {
  // task, uuid and attempt are bound by qtasks; trace_id and span_id by the mixin.
  self.ctx.getLogger().info("charging", { orderId });
  // The child's PRODUCER span is a child of this attempt's CONSUMER span: one trace.
  await self.addTask("send_receipt", orderId);
});
// #endregion setup

// #region prometheus
// The worker serves /metrics on 9464 from its start to its stop (also: qtasks run --metrics-port).
export const withEndpoint = new OpenTelemetryPlugin({ prometheus: { port: 9464 } });
// #endregion prometheus

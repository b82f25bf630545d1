import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { InvalidOptionError, QTasksError } from "@qtasks/core";

export interface PrometheusEndpointOptions {
  /** TCP port. Default 9464 (Prometheus' registered exporter port); 0 picks a free one. */
  port?: number;
  /** Interface to listen on. Default all (`::` / `0.0.0.0`). */
  host?: string;
  /** Path of the metrics. Default `/metrics`. */
  path?: string;
}

/** The endpoint could not listen (port in use, no permission). */
export class MetricsEndpointError extends QTasksError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("QTASKS_METRICS_ENDPOINT", message, options);
  }
}

/** The port in `QTASKS_METRICS_PORT` (set by `qtasks run --metrics-port`), or undefined. */
export function metricsPortFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env.QTASKS_METRICS_PORT;
  if (text === undefined || text === "") return undefined;
  return checkPort(Number(text), "QTASKS_METRICS_PORT");
}

/**
 * `/metrics` in the Prometheus text format, for the metrics recorded through `meterProvider`. It
 * is OpenTelemetry's Prometheus exporter (a metric reader) behind a server of ours, so the port can
 * be 0 in tests and the address is known once `start` resolves. The meter provider is private to
 * the endpoint: the plugin records into it, not into the global one.
 */
export class PrometheusEndpoint {
  readonly meterProvider: MeterProvider;
  private readonly exporter: PrometheusExporter;
  private readonly port: number;
  private readonly host: string | undefined;
  private readonly path: string;
  private server: Server | undefined;

  constructor(options: PrometheusEndpointOptions = {}) {
    this.port = checkPort(options.port ?? 9464, "prometheus.port");
    this.host = options.host;
    this.path = options.path ?? "/metrics";
    if (!this.path.startsWith("/")) throw new InvalidOptionError("prometheus.path", "must start with /");
    this.exporter = new PrometheusExporter({ preventServerStart: true });
    this.meterProvider = new MeterProvider({ readers: [this.exporter] });
  }

  /** Listens; resolves to the URL of the metrics. Idempotent. */
  async start(): Promise<string> {
    if (!this.server) {
      const server = createServer((req, res) => {
        const path = (req.url ?? "/").split("?")[0];
        if (req.method === "GET" && path === this.path) this.exporter.getMetricsRequestHandler(req, res);
        else {
          res.statusCode = 404;
          res.end("not found\n");
        }
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", (cause) =>
          reject(
            new MetricsEndpointError(`cannot serve metrics on port ${this.port}: ${cause.message}`, {
              cause,
            }),
          ),
        );
        server.listen(this.port, this.host, () => resolve());
      });
      server.unref();
      this.server = server;
    }
    return this.url();
  }

  /** The URL of the metrics (after `start`). */
  url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new MetricsEndpointError("the metrics endpoint is not listening");
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    const shown = host === "[::]" || host === "0.0.0.0" ? "127.0.0.1" : host;
    return `http://${shown}:${address.port}${this.path}`;
  }

  /** Stops listening (the meter provider keeps recording; `shutdown` ends it). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A scraper's keep-alive connection would hold close() open until it times out.
    server.closeAllConnections();
    await closed;
  }

  async shutdown(): Promise<void> {
    await this.stop();
    await this.meterProvider.shutdown();
  }
}

function checkPort(port: number, option: string): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidOptionError(option, `must be a TCP port (0-65535), got ${String(port)}`);
  return port;
}

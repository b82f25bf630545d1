import { defineConfig } from "tsup";
import { qtasksTsup } from "../../tsup.base";

export default defineConfig(
  qtasksTsup({
    external: [
      "@qtasks/core",
      "@opentelemetry/api",
      "@opentelemetry/sdk-metrics",
      "@opentelemetry/exporter-prometheus",
    ],
  }),
);

import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "broker-rabbitmq",
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The test files share one RabbitMQ; running them one after another keeps timings sane.
    fileParallelism: false,
  },
});

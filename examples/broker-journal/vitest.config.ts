import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "broker-journal",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
  },
});

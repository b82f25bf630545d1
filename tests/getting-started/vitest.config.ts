import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "getting-started",
    include: ["test/**/*.test.ts"],
    // npm installs from the registry (tsx, ioredis, typescript, vitest) and a worker in its own
    // process: generous, for a loaded machine.
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});

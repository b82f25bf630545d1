import { defineProject } from "vitest/config";

// `pnpm test` runs the fast scenarios (test/fast); `pnpm test:reliability` sets
// QTASKS_RELIABILITY_FULL=1 and runs the slow ones too (service restarts, long shutdowns, the soak).
const full = process.env.QTASKS_RELIABILITY_FULL === "1";

export default defineProject({
  test: {
    name: "reliability",
    include: full ? ["test/**/*.test.ts"] : ["test/fast/**/*.test.ts"],
    globalSetup: ["./src/global-setup.ts"],
    testTimeout: 300_000,
    hookTimeout: 60_000,
  },
});

import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "core",
    include: ["test/**/*.test.ts"],
    // test/*.test-d.ts (the type tests) are checked by `tsc -p packages/core` (the `typecheck` step of
    // `pnpm test`), which fails on a broken assertion; vitest's own typecheck mode would check them a
    // second time and prints an "experimental feature" warning on every run.
  },
});

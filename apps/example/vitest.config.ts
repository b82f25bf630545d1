import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "example",
    include: ["test/**/*.test.ts"],
    // Each test runs the whole demo in a child process (against real services for some): generous,
    // for a loaded machine.
    testTimeout: 180_000,
    hookTimeout: 60_000,
  },
});

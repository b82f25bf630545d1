import { defineConfig } from "tsup";

// A third-party package builds on its own: ESM + CJS + types. `@qtasks/core` is a peer dependency,
// so tsup leaves it external.
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  platform: "node",
});

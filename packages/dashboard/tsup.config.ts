import { defineConfig } from "tsup";
import { qtasksTsup } from "../../tsup.base";

export default defineConfig([
  // The library (ESM + CJS); `shims` gives the CJS build an `import.meta.url` to find dist/ui.
  qtasksTsup({ external: ["@qtasks/core"], shims: true, clean: false }),
  // The page: one browser bundle plus the static files of src/ui/public, into dist/ui.
  {
    entry: { app: "src/ui/main.ts" },
    outDir: "dist/ui",
    format: ["iife"],
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: false,
    dts: false,
    clean: false,
    publicDir: "src/ui/public",
    outExtension: () => ({ js: ".js" }),
  },
]);

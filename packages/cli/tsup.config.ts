import { rmSync } from "node:fs";
import { defineConfig } from "tsup";
import { qtasksTsup } from "../../tsup.base";

// The two builds below run in parallel, so neither may clean `dist` (one would delete the other's
// output): it is cleaned once here, when tsup loads this file.
rmSync(new URL("./dist", import.meta.url), { recursive: true, force: true });

export default defineConfig([
  // The library: ESM + CJS + .d.ts, like every package. The dashboard stays external: it serves its
  // page from its own dist/ui.
  qtasksTsup({ clean: false, external: ["@qtasks/core", "@qtasks/dashboard", "tsx"] }),
  // The executable `dist/bin.js`, ESM only: a CJS copy would ship unused.
  qtasksTsup({
    entry: { bin: "src/bin.ts" },
    format: ["esm"],
    dts: false,
    clean: false,
    external: ["@qtasks/core", "@qtasks/dashboard", "tsx"],
    banner: { js: "#!/usr/bin/env node" },
  }),
]);

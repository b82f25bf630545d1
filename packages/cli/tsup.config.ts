import { defineConfig } from "tsup";
import { qtasksTsup } from "../../tsup.base";

export default defineConfig(
  qtasksTsup({
    // `bin` is the executable (`dist/bin.js`); the shebang is harmless in the library entry.
    entry: { index: "src/index.ts", bin: "src/bin.ts" },
    dts: { entry: { index: "src/index.ts" } },
    external: ["@qtasks/core", "tsx"],
    banner: { js: "#!/usr/bin/env node" },
  }),
);

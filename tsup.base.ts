import type { Options } from "tsup";

/** One build for every package: ESM + CJS + .d.ts from src/index.ts (plus any extra entries). */
export function qtasksTsup(extra: Partial<Options> = {}): Options {
  return {
    entry: ["src/index.ts"],
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    clean: true,
    target: "node20",
    platform: "node",
    splitting: false,
    treeshake: true,
    ...extra,
  };
}

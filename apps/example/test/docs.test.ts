import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { listMarkers, markdownFiles, processFile } from "../../../docs/scripts/embed-samples.mjs";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../../", import.meta.url));
const samplesDir = `${root}docs/samples`;
const tsc = createRequire(`${root}package.json`).resolve("typescript/bin/tsc");

describe("docs samples", () => {
  it("every sample compiles (tsc -p docs/samples)", async () => {
    const result = await run(process.execPath, [tsc, "-p", `${samplesDir}/tsconfig.json`]).catch(
      (e: { stdout: string; code: number }) => e,
    );
    expect((result as { stdout: string }).stdout).toBe("");
    expect((result as { code?: number }).code ?? 0).toBe(0);
  });

  it("the samples' tsconfig really includes every sample", async () => {
    const { stdout } = await run(process.execPath, [
      tsc,
      "-p",
      `${samplesDir}/tsconfig.json`,
      "--listFilesOnly",
    ]);
    const samples = readdirSync(samplesDir).filter((f) => f.endsWith(".ts"));
    expect(samples.length).toBeGreaterThan(5);
    for (const f of samples) expect(stdout).toContain(`docs/samples/${f}`);
  });

  it("every code block that embeds a sample is identical to it (node docs/scripts/embed-samples.mjs)", () => {
    const problems = markdownFiles().flatMap((f) => processFile(f, true));
    expect(problems).toEqual([]);
    expect(listMarkers().length).toBeGreaterThan(10);
  });
});

import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
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

  it("every relative link in the docs and READMEs points to a file that exists", () => {
    const broken: string[] = [];
    for (const file of markdownFiles()) {
      const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split("#")[0]!;
        if (target === "" || /^[a-z]+:/i.test(target)) continue; // in-page anchors, URLs
        if (!existsSync(join(dirname(file), decodeURIComponent(target)))) broken.push(`${file}: ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

// Keeps the code blocks of the docs identical to the type-checked samples in docs/samples.
//
// In a markdown file, a marker line `<!-- sample: samples/tasks.ts#enqueue -->` (the path is relative
// to the markdown file) followed by a ```ts block embeds that sample (the region between `// #region enqueue` and `// #endregion enqueue`, or
// the whole file without region markers when no `#region` is given).
//
//   node docs/scripts/embed-samples.mjs          rewrite the blocks from the samples
//   node docs/scripts/embed-samples.mjs --check  exit 1 if a block differs (the tests run this)
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const docsDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const repoDir = join(docsDir, "..");
const MARKER = /^<!-- sample: (\S+?)(?:#([\w-]+))? -->$/;

/** The text of one sample (or one region of it). */
export function sampleText(file, region) {
  const lines = readFileSync(file, "utf8").replace(/\n$/, "").split("\n");
  const isMarker = (l) => /^\s*\/\/ #(end)?region\b/.test(l);
  if (!region) return lines.filter((l) => !isMarker(l)).join("\n");
  const start = lines.findIndex((l) => l.trim() === `// #region ${region}`);
  const end = lines.findIndex((l, i) => i > start && l.trim() === `// #endregion ${region}`);
  if (start < 0 || end < 0) throw new Error(`${relative(repoDir, file)}: no region "${region}"`);
  return lines
    .slice(start + 1, end)
    .filter((l) => !isMarker(l))
    .join("\n");
}

/** Markdown files that may embed samples: docs/**, the root README, and the READMEs of packages/*,
 * apps/* and examples/*. */
export function markdownFiles() {
  const out = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === "node_modules" || e.name.startsWith(".")) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".md")) out.push(p);
    }
  };
  walk(docsDir);
  out.push(join(repoDir, "README.md"));
  for (const group of ["packages", "apps", "examples"]) {
    let names = [];
    try {
      names = readdirSync(join(repoDir, group));
    } catch {}
    for (const name of names) {
      const p = join(repoDir, group, name, "README.md");
      try {
        readFileSync(p);
        out.push(p);
      } catch {}
    }
  }
  return out;
}

/** Rewrites (or checks) the embedded blocks of one file. Returns the problems found. */
export function processFile(file, check) {
  const lines = readFileSync(file, "utf8").split("\n");
  const problems = [];
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    out.push(lines[i]);
    const m = MARKER.exec(lines[i].trim());
    if (!m) continue;
    const samplePath = join(dirname(file), m[1]);
    const fenceStart = i + 1;
    if (!/^```ts\s*$/.test(lines[fenceStart] ?? "")) {
      problems.push(
        `${relative(repoDir, file)}:${i + 1}: a sample marker must be followed by a \`\`\`ts block`,
      );
      continue;
    }
    let fenceEnd = fenceStart + 1;
    while (fenceEnd < lines.length && lines[fenceEnd] !== "```") fenceEnd++;
    const current = lines.slice(fenceStart + 1, fenceEnd).join("\n");
    let wanted;
    try {
      wanted = sampleText(samplePath, m[2]);
    } catch (error) {
      problems.push(`${relative(repoDir, file)}:${i + 1}: ${error.message}`);
      continue;
    }
    if (check && current !== wanted)
      problems.push(
        `${relative(repoDir, file)}:${i + 1}: the block differs from ${m[1]}${m[2] ? `#${m[2]}` : ""}`,
      );
    out.push("```ts", ...wanted.split("\n"), "```");
    i = fenceEnd;
  }
  if (!check) writeFileSync(file, out.join("\n"));
  return problems;
}

/** Every marker in every file, for the tests. */
export function listMarkers() {
  const found = [];
  for (const file of markdownFiles()) {
    const lines = readFileSync(file, "utf8").split("\n");
    lines.forEach((l, i) => {
      const m = MARKER.exec(l.trim());
      if (m) found.push({ file: relative(repoDir, file), line: i + 1, sample: m[1], region: m[2] });
    });
  }
  return found;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes("--check");
  const problems = markdownFiles().flatMap((f) => processFile(f, check));
  for (const p of problems) console.error(p);
  if (check && problems.length > 0) process.exit(1);
  if (!check)
    console.log(problems.length === 0 ? "docs samples embedded" : "some markers could not be embedded");
}

// Packs every publishable package (packages/*, not private) into one folder, as npm would publish
// them: `pnpm pack` rewrites `workspace:` ranges to real ones. Each tarball gets a stable name
// (packs/qtasks-core.tgz), so a project can `npm install ../qtasks/packs/qtasks-core.tgz` whatever
// the version. Every tarball is checked: a LICENSE, a package.json without `workspace:`, and the
// files its package.json points at; a problem fails the script.
//
//   pnpm pack:local                 build, then pack into ./packs
//   pnpm pack:local --out <dir>     pack into <dir>
//   pnpm pack:local --no-build      pack what is built (the tests run after `pnpm build`)
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

export const repoDir = fileURLToPath(new URL("..", import.meta.url));

/**
 * How to run pnpm from here: the pnpm running this script (`npx -y pnpm@12.4.2 pack:local` on a
 * machine without a global pnpm puts none on the PATH), else the one on the PATH.
 */
export function pnpmCommand(args) {
  // Set by the package manager running this script; no turbo task reads them.
  const { npm_execpath: execPath, npm_config_user_agent: agent = "" } = process.env;
  if (execPath && /pnpm/i.test(agent))
    return /\.[cm]?js$/.test(execPath) ? [process.execPath, [execPath, ...args]] : [execPath, args];
  return ["pnpm", args];
}

/** The publishable packages: directory, name and version. */
export function publishablePackages() {
  const dir = join(repoDir, "packages");
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => {
      const pkgDir = join(dir, e.name);
      const manifest = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
      return {
        dir: pkgDir,
        name: manifest.name,
        version: manifest.version,
        private: manifest.private === true,
      };
    })
    .filter((p) => !p.private)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** `@qtasks/core` -> `qtasks-core.tgz`. */
export const tarballName = (name) => `${name.replace(/^@/, "").replace("/", "-")}.tgz`;

/** Every path the manifest names as an entry point (main, module, types, bin, exports). */
function entryPoints(manifest) {
  const out = new Set();
  const walk = (v) => {
    if (typeof v === "string") {
      if (v.startsWith("./") && !v.includes("*")) out.add(v.slice(2));
    } else if (v && typeof v === "object") for (const x of Object.values(v)) walk(x);
  };
  for (const field of ["main", "module", "types"])
    if (manifest[field]) out.add(manifest[field].replace(/^\.\//, ""));
  walk(manifest.bin);
  walk(manifest.exports);
  return [...out];
}

/** What is wrong with one tarball (empty when nothing). */
export function checkTarball(file) {
  const problems = [];
  const list = execFileSync("tar", ["-tzf", file], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .map((p) => p.replace(/^package\//, ""));
  const manifestText = execFileSync("tar", ["-xzOf", file, "package/package.json"], { encoding: "utf8" });
  const manifest = JSON.parse(manifestText);
  if (!list.includes("LICENSE")) problems.push("no LICENSE");
  if (!list.includes("README.md")) problems.push("no README.md");
  if (manifestText.includes("workspace:")) problems.push("a workspace: range in package.json");
  for (const entry of entryPoints(manifest))
    if (entry !== "package.json" && !list.includes(entry))
      problems.push(`${entry} is named in package.json but not in the tarball`);
  return problems;
}

/** Packs every publishable package into `out`; returns their tarballs. Throws on any problem. */
export function packAll(out, { build = true, log = console.log } = {}) {
  const packages = publishablePackages();
  if (build)
    execFileSync(
      join(repoDir, "node_modules", ".bin", "turbo"),
      ["run", "build", "--filter=./packages/*", "--output-logs=errors-only"],
      {
        cwd: repoDir,
        stdio: "inherit",
        env: { ...process.env, TURBO_TELEMETRY_DISABLED: "1" },
      },
    );
  mkdirSync(out, { recursive: true });
  const problems = [];
  const tarballs = [];
  for (const p of packages) {
    // Into a folder of its own first: pnpm names the file after the version.
    const tmp = mkdtempSync(join(tmpdir(), "qtasks-pack-"));
    try {
      const [cmd, args] = pnpmCommand(["pack", "--pack-destination", tmp]);
      execFileSync(cmd, args, { cwd: p.dir, stdio: "pipe" });
      const [made] = readdirSync(tmp).filter((f) => f.endsWith(".tgz"));
      if (!made) throw new Error(`pnpm pack wrote no tarball for ${p.name}`);
      const file = join(out, tarballName(p.name));
      rmSync(file, { force: true });
      renameSync(join(tmp, made), file);
      for (const problem of checkTarball(file)) problems.push(`${p.name}: ${problem}`);
      tarballs.push({ ...p, file });
      log(`${p.name}@${p.version} -> ${relative(process.cwd(), file) || file}`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  if (problems.length > 0) throw new Error(`pack:local found problems:\n  ${problems.join("\n  ")}`);
  return tarballs;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const { values } = parseArgs({
    options: { out: { type: "string" }, "no-build": { type: "boolean" } },
    strict: true,
  });
  const out = resolve(values.out ?? join(repoDir, "packs"));
  try {
    packAll(out, { build: !values["no-build"] });
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
  console.log(`\n${readdirSync(out).filter((f) => f.endsWith(".tgz")).length} tarballs in ${out}`);
}

// The release process, behind one guard. Every step refuses on any problem.
//
//   pnpm release:check      the guard alone: clean tree, package metadata, build, `pnpm test`,
//                           the tarballs (pack:local's checks), publint and attw on every tarball
//   pnpm release:version    the guard, then `changeset version` (versions, changelogs, ranges)
//   pnpm release:publish    the guard, then `changeset publish` (to the npm registry)
//
// Flags for trying the guard out, never for a release: --allow-dirty (uncommitted changes),
// --skip-tests (no `pnpm test`).
//
// Why `version` is more than `changeset version`: every @qtasks package is in one fixed group, and
// each declares its peers on the others as `^0.x.y`. In 0.x a minor is breaking, so a minor of core
// leaves those peers out of range, which changesets answers with a major bump of every dependent,
// and the fixed group then takes every package to 1.0.0. The packages are released together, so the
// peers move with them: before `changeset version` they are set to `^<next version>`, and the
// versions it wrote are checked to be that next version.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { packAll, pnpmCommand, publishablePackages, repoDir } from "./pack-local.mjs";

const BUMPS = ["patch", "minor", "major"];
const rel = (p) => relative(repoDir, p) || ".";

function readJson(file) {
  return JSON.parse(readFileSync(file, "utf8"));
}

/** Runs a command with its output shown; resolves to whether it exited 0. */
function step(title, command, args, options = {}) {
  console.log(`\n== ${title}`);
  const result = spawnSync(command, args, { cwd: repoDir, stdio: "inherit", ...options });
  return result.status === 0;
}

/** Metadata every published package must have; returns the problems. */
export function checkMetadata(packages = publishablePackages()) {
  const problems = [];
  const root = readJson(join(repoDir, "package.json"));
  const license = readFileSync(join(repoDir, "LICENSE"), "utf8");
  const repoUrl = root.repository?.url;
  if (!repoUrl) problems.push("package.json (root): no repository.url to compare the packages with");
  const versions = new Set(packages.map((p) => p.version));
  if (versions.size > 1)
    problems.push(`the packages are one fixed group but have several versions: ${[...versions].join(", ")}`);
  for (const p of packages) {
    const m = readJson(join(p.dir, "package.json"));
    const say = (text) => problems.push(`${p.name}: ${text}`);
    const dir = rel(p.dir);
    if (!m.name?.startsWith("@qtasks/")) say("not in the @qtasks scope");
    if (!m.description) say("no description");
    if (m.license !== "MIT") say(`license is ${m.license}, not MIT`);
    if (m.repository?.url !== repoUrl) say(`repository.url is ${m.repository?.url}, not ${repoUrl}`);
    if (m.repository?.directory !== dir)
      say(`repository.directory is ${m.repository?.directory}, not ${dir}`);
    if (!m.homepage) say("no homepage");
    if (!m.bugs?.url) say("no bugs.url");
    if (!Array.isArray(m.keywords) || m.keywords.length === 0) say("no keywords");
    if (!m.engines?.node) say("no engines.node");
    for (const f of ["dist", "README.md", "LICENSE"])
      if (!m.files?.includes(f)) say(`files does not list ${f}`);
    try {
      if (readFileSync(join(p.dir, "LICENSE"), "utf8") !== license)
        say("LICENSE differs from the root LICENSE");
    } catch {
      say("no LICENSE file (copy the root one)");
    }
    for (const [dep, range] of Object.entries(m.peerDependencies ?? {}))
      if (dep.startsWith("@qtasks/") && range !== `workspace:^${p.version}`)
        say(`peer ${dep} is ${range}, not workspace:^${p.version} (the group's version)`);
    if (m.dependencies)
      for (const dep of Object.keys(m.dependencies))
        if (dep.startsWith("@qtasks/"))
          say(`${dep} is a dependency; qtasks packages are peers of each other`);
  }
  return problems;
}

/** publint (warnings as errors, suggestions too) and attw on every tarball. */
function lintTarballs(tarballs) {
  const problems = [];
  for (const t of tarballs) {
    const [publint, publintArgs] = [
      join(repoDir, "node_modules", ".bin", "publint"),
      ["run", t.file, "--strict"],
    ];
    const out = spawnSync(publint, publintArgs, { encoding: "utf8" });
    if (out.status !== 0 || !out.stdout.includes("All good!"))
      problems.push(`${t.name}: publint:\n${(out.stdout + out.stderr).trim().replace(/^/gm, "    ")}`);
    const attw = spawnSync(
      join(repoDir, "node_modules", ".bin", "attw"),
      [t.file, "--format", "ascii", "--no-emoji", "--no-color"],
      {
        encoding: "utf8",
      },
    );
    if (attw.status !== 0)
      problems.push(`${t.name}: attw:\n${(attw.stdout + attw.stderr).trim().replace(/^/gm, "    ")}`);
    else console.log(`${t.name}: publint and attw clean`);
  }
  return problems;
}

/** The guard. Returns the problems (empty: fit to release). */
export function guard({ allowDirty = false, skipTests = false } = {}) {
  const problems = [];
  const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: repoDir, encoding: "utf8" }).trim();
  if (dirty && !allowDirty) problems.push(`uncommitted changes:\n${dirty.replace(/^/gm, "    ")}`);
  problems.push(...checkMetadata());
  if (problems.length > 0) return problems; // no point building a release that is refused already

  const env = { ...process.env, TURBO_TELEMETRY_DISABLED: "1" };
  if (
    !step(
      "build",
      join(repoDir, "node_modules", ".bin", "turbo"),
      ["run", "build", "--output-logs=errors-only"],
      { env },
    )
  )
    return ["the build failed"];
  if (!skipTests) {
    const [pnpm, args] = pnpmCommand(["test"]);
    if (!step("pnpm test", pnpm, args, { env })) return ["pnpm test failed"];
  }

  console.log("\n== the tarballs");
  const out = mkdtempSync(join(tmpdir(), "qtasks-release-"));
  try {
    let tarballs;
    try {
      tarballs = packAll(out, { build: false });
    } catch (error) {
      return [error instanceof Error ? error.message : String(error)];
    }
    problems.push(...lintTarballs(tarballs));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return problems;
}

/** The pending changesets' highest bump for the group, or undefined when there is none. */
export function pendingBump() {
  const dir = join(repoDir, ".changeset");
  let highest = -1;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".md") && f !== "README.md")) {
    const front = /^---\n([\s\S]*?)\n---/.exec(readFileSync(join(dir, file), "utf8"))?.[1] ?? "";
    for (const m of front.matchAll(/^\s*["']?(@qtasks\/[\w-]+)["']?\s*:\s*(patch|minor|major)\s*$/gm))
      highest = Math.max(highest, BUMPS.indexOf(m[2]));
  }
  return highest < 0 ? undefined : BUMPS[highest];
}

export function nextVersion(version, bump) {
  const [major, minor, patch] = version.split(".").map(Number);
  if (bump === "major") return `${major + 1}.0.0`; // as changesets (and semver.inc) count it, 0.x too
  if (bump === "minor") return `${major}.${minor + 1}.0`;
  return `${major}.${minor}.${patch + 1}`;
}

/** Sets every peer on a @qtasks package to `workspace:^<version>`. */
function setInternalPeers(version) {
  for (const p of publishablePackages()) {
    const file = join(p.dir, "package.json");
    const text = readFileSync(file, "utf8");
    const m = JSON.parse(text);
    let changed = false;
    for (const dep of Object.keys(m.peerDependencies ?? {}))
      if (dep.startsWith("@qtasks/") && m.peerDependencies[dep] !== `workspace:^${version}`) {
        m.peerDependencies[dep] = `workspace:^${version}`;
        changed = true;
      }
    if (changed) writeFileSync(file, `${JSON.stringify(m, null, 2)}\n`);
  }
}

function refuse(problems) {
  console.error(`\nrelease refused:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  process.exit(1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({
    options: { "allow-dirty": { type: "boolean" }, "skip-tests": { type: "boolean" } },
    allowPositionals: true,
    strict: true,
  });
  const command = positionals[0] ?? "check";
  if (!["check", "version", "publish"].includes(command))
    refuse([`unknown command ${command} (check, version, publish)`]);
  const changesetBin = join(repoDir, "node_modules", ".bin", "changeset");

  const bump = pendingBump();
  if (command === "version" && !bump) refuse(["no pending changesets: nothing to version"]);
  if (command === "publish" && bump)
    refuse([`pending changesets (a ${bump} bump): run pnpm release:version and commit it first`]);

  const problems = guard({ allowDirty: values["allow-dirty"], skipTests: values["skip-tests"] });
  if (problems.length > 0) refuse(problems);
  console.log("\nthe guard found no problem");

  if (command === "version") {
    const current = publishablePackages()[0].version;
    const next = nextVersion(current, bump);
    console.log(`\n== changeset version: ${current} -> ${next} (${bump})`);
    setInternalPeers(next);
    // changesets warns that the peers now name the next version ("must depend on the current
    // version"): expected, it is the version it is about to write.
    if (!step("changeset version", changesetBin, ["version"])) refuse(["changeset version failed"]);
    const wrong = publishablePackages().filter((p) => p.version !== next);
    if (wrong.length > 0)
      refuse([
        `changeset version wrote ${wrong.map((p) => `${p.name}@${p.version}`).join(", ")}, expected ${next} for all (git checkout . undoes it)`,
      ]);
    const [pnpm, args] = pnpmCommand(["install"]);
    if (!step("pnpm install (the lockfile)", pnpm, args)) refuse(["pnpm install failed"]);
    console.log(`\nversioned ${next}: review the changelogs, commit, then pnpm release:publish`);
  } else if (command === "publish") {
    if (!step("changeset publish", changesetBin, ["publish"])) refuse(["changeset publish failed"]);
  }
}

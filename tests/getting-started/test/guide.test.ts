/**
 * Follows docs/getting-started.md as a newcomer would: tarballs from `pack:local`, a project in a
 * temp folder outside the workspace, `npm install` of those tarballs, then the guide's own commands
 * (its ```bash blocks, found by their `<!-- guide: name -->` markers) and files (the samples the
 * guide embeds). The worker runs in its own process on Redis under an app name of this run's own,
 * and is stopped with SIGTERM.
 *
 * A second project installs every tarball without tsx and type-checks a file importing every
 * package with `skipLibCheck: false` (what a strict consumer's `tsc` sees), then runs the CLI on a
 * JavaScript app file (no TypeScript loader needed) and on a TypeScript one (a clear error).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sampleText } from "../../../docs/scripts/embed-samples.mjs";
import { packAll, publishablePackages, repoDir, tarballName } from "../../../scripts/pack-local.mjs";

const run = promisify(execFile);
const guidePath = join(repoDir, "docs", "getting-started.md");
const guide = readFileSync(guidePath, "utf8");
const samples = join(repoDir, "docs", "samples");

/** The ```bash block after `<!-- guide: name -->`. */
function block(name: string): string {
  const m = new RegExp(`<!-- guide: ${name} -->\\n\`\`\`bash\\n([\\s\\S]*?)\\n\`\`\``).exec(guide);
  if (!m) throw new Error(`docs/getting-started.md has no bash block marked <!-- guide: ${name} -->`);
  return m[1]!;
}

/** Where the guide embeds a sample: `<!-- sample: samples/x.ts -->`. */
function embeds(sample: string): boolean {
  return guide.includes(`<!-- sample: samples/${sample} -->`);
}

/** The environment of a newcomer's shell: none of pnpm's or vitest's variables, no QTASKS_*. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(npm_|PNPM_|pnpm_|VITEST|QTASKS_|NODE_OPTIONS$|TSX_)/i.test(k)) env[k] = v;
  return env;
}

/** Runs a guide block in bash (`set -e`: a failing line fails the block). */
async function sh(script: string, cwd: string): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run("bash", ["-e", "-c", script], { cwd, env: cleanEnv(), maxBuffer: 16 << 20 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${script}\nfailed: ${e.message}\nstdout:\n${e.stdout}\nstderr:\n${e.stderr}`);
  }
}

/** A long-running command of the guide, in its own process (bash `exec`s it: no shell between). */
class Background {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(command: string, cwd: string, env: NodeJS.ProcessEnv = {}) {
    this.child = spawn("bash", ["-c", `exec ${command}`], { cwd, env: { ...cleanEnv(), ...env } });
    this.child.stdout!.setEncoding("utf8").on("data", (d: string) => (this.stdout += d));
    this.child.stderr!.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) =>
      this.child.on("exit", (code, signal) => resolve({ code, signal })),
    );
  }

  async waitFor(text: string, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(this.stdout + this.stderr).includes(text)) {
      if (this.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`no "${text}" from the worker\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const root = mkdtempSync(join(tmpdir(), "qtasks-guide-"));
const appName = `guide_${randomBytes(4).toString("hex")}`;
const started: ChildProcess[] = [];

beforeAll(() => {
  // The tarballs hold what `pnpm build` built (`pnpm test` builds first): refuse a stale build
  // rather than test old code.
  for (const p of publishablePackages()) {
    const dist = join(p.dir, "dist");
    if (!existsSync(dist) || newest(dist) < newest(join(p.dir, "src")))
      throw new Error(`${p.name} is not built or its build is older than its sources: run pnpm build`);
  }
  // The clone's `pack:local`, into <root>/qtasks/packs: the guide's project sits beside the clone.
  expect(block("clone")).toContain("pack:local");
  packAll(join(root, "qtasks", "packs"), { build: false, log: () => {} });
});

afterAll(async () => {
  for (const child of started) if (child.pid && alive(child.pid)) child.kill("SIGKILL");
  const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `qtasks:{${appName}}*`, "COUNT", 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  rmSync(root, { recursive: true, force: true });
});

describe("docs/getting-started.md, followed from packed tarballs", () => {
  const project = join(root, "my-app");

  it("makes the project (ES module, tsx) and runs the first app", async () => {
    await sh(block("project"), root);
    const manifest = JSON.parse(readFileSync(join(project, "package.json"), "utf8"));
    expect(manifest.type).toBe("module");
    expect(Object.keys(manifest.dependencies)).toEqual(["@qtasks/core"]);

    expect(embeds("first-app.ts")).toBe(true);
    writeFileSync(join(project, "first-app.ts"), `${sampleText(join(samples, "first-app.ts"))}\n`);
    const { stdout } = await sh(block("first-app"), project);
    expect(stdout.trim()).toBe("200");
  });

  it("runs a worker with the CLI in its own process on Redis, a client against it, and stops it with SIGTERM", async () => {
    await sh(block("redis"), project);
    expect(embeds("getting-started/app.ts") && embeds("getting-started/web.ts")).toBe(true);
    // This run's own app name, so its Redis keys are its own (removed afterwards).
    const appText = sampleText(join(samples, "getting-started", "app.ts"));
    expect(appText).toContain('name: "shop"');
    writeFileSync(join(project, "app.ts"), `${appText.replace('name: "shop"', `name: "${appName}"`)}\n`);
    writeFileSync(join(project, "web.ts"), `${sampleText(join(samples, "getting-started", "web.ts"))}\n`);

    const worker = new Background(block("worker"), project);
    started.push(worker.child);
    await worker.waitFor(`qtasks run app=${appName}`);
    await worker.waitFor("worker started");

    const { stdout } = await sh(block("client"), project);
    expect(stdout).toContain("url: 'https://example.com/cat.png'");
    expect(stdout).toContain("width: 128");

    worker.child.kill("SIGTERM");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(worker.stderr).toContain("signal=SIGTERM");
    expect(alive(worker.child.pid!)).toBe(false);
  });

  it("the other worker command the guide gives (node --import tsx app.ts worker) stops on SIGTERM too", async () => {
    const command = "node --import tsx app.ts worker";
    expect(guide).toContain(`\`${command}\``);
    const worker = new Background(command, project);
    started.push(worker.child);
    await worker.waitFor("worker started");
    const { stdout } = await sh(block("client"), project);
    expect(stdout).toContain("width: 128");
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  });
});

describe("every package, installed from its tarball into a strict TypeScript project", () => {
  const project = join(root, "strict");

  it("type-checks a file importing every package with skipLibCheck false", async () => {
    mkdirSync(project);
    const tarballs = publishablePackages().map((p) => `../qtasks/packs/${tarballName(p.name)}`);
    await sh(
      [
        "npm init -y >/dev/null",
        "npm pkg set type=module",
        // npm installs the peers (ioredis, pg, amqplib, vitest, ...) with them.
        `npm install ${tarballs.join(" ")}`,
        // @types/redis-errors: ioredis 6's own .d.ts imports redis-errors, which ships no types (TS7016
        // under skipLibCheck false whatever qtasks does).
        "npm install --save-dev typescript @types/node@20 @types/redis-errors",
      ].join("\n"),
      project,
    );
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          types: ["node"],
        },
        include: ["check.ts"],
      }),
    );
    // Every package's whole public surface: `import *` of each, used so that nothing is elided.
    const names = publishablePackages().map((p) => p.name);
    writeFileSync(
      join(project, "check.ts"),
      `${names.map((n, i) => `import * as p${i} from "${n}";`).join("\n")}\n\nexport const parts = [${names.map((_, i) => `p${i}`).join(", ")}];\n`,
    );
    expect(names).toEqual(
      expect.arrayContaining(["@qtasks/core", "@qtasks/cli", "@qtasks/storage-postgres"]),
    );
    const tsc = await run(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "."], {
      cwd: project,
      env: cleanEnv(),
    }).catch((e: { stdout: string; code: number }) => e);
    expect((tsc as { stdout: string }).stdout).toBe("");
  });

  it("the CLI loads a JavaScript app with no TypeScript loader installed, and says what a TypeScript one needs", async () => {
    expect(existsSync(join(project, "node_modules", "tsx"))).toBe(false);
    writeFileSync(
      join(project, "app.mjs"),
      'import { QueueTasks } from "@qtasks/core";\nexport const app = new QueueTasks({ name: "js-app" });\n',
    );
    const ok = await run("./node_modules/.bin/qtasks", ["stats", "--app", "./app.mjs", "--json"], {
      cwd: project,
      env: cleanEnv(),
    });
    expect(JSON.parse(ok.stdout).app).toBe("js-app");

    const ts = await run("./node_modules/.bin/qtasks", ["stats", "--app", "./check.ts"], {
      cwd: project,
      env: cleanEnv(),
    }).catch((e: { code: number; stderr: string }) => e);
    expect((ts as { code: number }).code).toBe(1);
    expect((ts as { stderr: string }).stderr.trim()).toBe(
      "qtasks: app file ./check.ts is TypeScript, and loading it needs tsx: npm install --save-dev tsx (or point --app at the compiled .js)",
    );
  });
});

import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** The handler serves the built page (dist/ui): build it when the sources are newer. */
export default function setup(): void {
  const app = join(root, "dist", "ui", "app.js");
  if (existsSync(app) && statSync(app).mtimeMs >= newest(join(root, "src"))) return;
  execFileSync("npx", ["tsup"], { cwd: root, stdio: "inherit" });
}

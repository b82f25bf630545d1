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

/** The tests run the built `dist/bin.js` as a child process: build it when the sources are newer. */
export default function setup(): void {
  const bin = join(root, "dist", "bin.js");
  if (existsSync(bin) && statSync(bin).mtimeMs >= newest(join(root, "src"))) return;
  execFileSync("npx", ["tsup"], { cwd: root, stdio: "inherit" });
}

/**
 * The release guard's metadata rules hold for every package on every `pnpm test` (a new package
 * without its LICENSE, repository or `^` peer on core fails here, not on release day), and the
 * version arithmetic of `pnpm release:version` is that of changesets.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { publishablePackages } from "../../../scripts/pack-local.mjs";
import { checkMetadata, nextVersion, pendingBump } from "../../../scripts/release.mjs";

describe("the release guard", () => {
  it("finds every package's metadata complete", () => {
    expect(publishablePackages().length).toBeGreaterThanOrEqual(8);
    expect(checkMetadata()).toEqual([]);
  });

  it("names what is missing in a package", () => {
    const [first] = publishablePackages();
    const dir = mkdtempSync(join(tmpdir(), "qtasks-meta-"));
    try {
      writeFileSync(
        join(dir, "package.json"),
        JSON.stringify({
          name: "@qtasks/half-done",
          version: first!.version,
          license: "ISC",
          files: ["dist"],
          peerDependencies: { "@qtasks/core": "workspace:>=0.1.0 <1.0.0" },
        }),
      );
      const problems = checkMetadata([
        { dir, name: "@qtasks/half-done", version: first!.version, private: false },
      ]);
      for (const expected of [
        "no description",
        "license is ISC, not MIT",
        "no homepage",
        "no keywords",
        "files does not list LICENSE",
        "no LICENSE file (copy the root one)",
        `peer @qtasks/core is workspace:>=0.1.0 <1.0.0, not workspace:^${first!.version} (the group's version)`,
      ])
        expect(problems).toContain(`@qtasks/half-done: ${expected}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("computes the group's next version as changesets does", () => {
    expect(nextVersion("0.1.0", "patch")).toBe("0.1.1");
    expect(nextVersion("0.1.3", "minor")).toBe("0.2.0");
    expect(nextVersion("0.4.2", "major")).toBe("1.0.0");
    expect(nextVersion("1.2.3", "minor")).toBe("1.3.0");
    expect(["patch", "minor", "major", undefined]).toContain(pendingBump());
  });
});

export function checkMetadata(packages?: import("./pack-local.mjs").PublishablePackage[]): string[];
export function guard(options?: { allowDirty?: boolean; skipTests?: boolean }): string[];
export function pendingBump(): "patch" | "minor" | "major" | undefined;
export function nextVersion(version: string, bump: "patch" | "minor" | "major"): string;

export const repoDir: string;
export interface PublishablePackage {
  dir: string;
  name: string;
  version: string;
  private: boolean;
}
export function publishablePackages(): PublishablePackage[];
export function tarballName(name: string): string;
export function checkTarball(file: string): string[];
export function pnpmCommand(args: string[]): [string, string[]];
export function packAll(
  out: string,
  options?: { build?: boolean; log?: (line: string) => void },
): (PublishablePackage & { file: string })[];

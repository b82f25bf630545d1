import { existsSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { QueueTasks } from "@qtasks/core";
import {
  AppExportMissingError,
  AppFileMissingError,
  AppLoadError,
  isUnreachable,
  TypeScriptLoaderMissingError,
  UnreachableError,
} from "./errors";

/** `path[#export|:export]`, split. */
export interface AppSpec {
  file: string;
  exportName?: string;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/**
 * Splits an app spec at the last `#` or `:` followed by an identifier (`./app.ts#shop`,
 * `./app.ts:shop`). Anything else stays part of the path (`C:\\app.ts`, `./c#/app.ts`).
 */
export function parseAppSpec(spec: string): AppSpec {
  const at = Math.max(spec.lastIndexOf("#"), spec.lastIndexOf(":"));
  const exportName = spec.slice(at + 1);
  // `C:` alone is a Windows drive, not file `C`.
  if (at > 1 && IDENT.test(exportName)) return { file: spec.slice(0, at), exportName };
  return { file: spec };
}

/**
 * Whether a value is a QueueTasks app. Checked by shape, not `instanceof`: the app file may resolve
 * its own copy of `@qtasks/core` (ESM vs CJS, or another install).
 */
export function isQueueTasksApp(value: unknown): value is QueueTasks {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.name === "string" &&
    typeof v.start === "function" &&
    typeof v.stop === "function" &&
    typeof v.connect === "function" &&
    typeof v.listTasks === "function" &&
    typeof v.stats === "function" &&
    typeof v.broker === "object" &&
    typeof v.storage === "object"
  );
}

let tsxRegistered = false;

/** File names Node cannot import without a TypeScript loader. */
const TYPESCRIPT_FILE = /\.(?:[cm]?ts|tsx)$/i;

/**
 * Lets `import()` load TypeScript (ESM and CJS) without a build step. Once per process, and only for
 * a TypeScript app file: tsx is an optional peer, so an app written in JavaScript needs no loader
 * (and no esbuild) installed.
 */
async function registerTsx(file: string): Promise<void> {
  if (tsxRegistered) return;
  let esm: typeof import("tsx/esm/api");
  let cjs: typeof import("tsx/cjs/api");
  try {
    [esm, cjs] = await Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND")
      throw new TypeScriptLoaderMissingError(file);
    throw error;
  }
  tsxRegistered = true;
  esm.register();
  cjs.register();
}

export interface LoadedApp {
  app: QueueTasks;
  /** The export the app came from. */
  exportName: string;
  file: string;
}

/**
 * Loads the app: resolves the file against `cwd`, imports it (TypeScript through tsx, which must
 * then be installed), then picks
 * the named export, else `app`, else `default`, else the only QueueTasks app among the exports.
 */
export async function loadApp(spec: string, cwd = process.cwd()): Promise<LoadedApp> {
  const isFile = (p: string) => existsSync(p) && statSync(p).isFile();
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  // A file whose name really ends in `#name` or `:name` wins over the export syntax.
  const { file, exportName } = isFile(abs(spec)) ? { file: spec, exportName: undefined } : parseAppSpec(spec);
  const path = abs(file);
  if (!isFile(path)) throw new AppFileMissingError(file);

  if (TYPESCRIPT_FILE.test(path)) await registerTsx(file);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    // The module may connect (or enqueue) at import time.
    if (isUnreachable(error))
      throw new UnreachableError(`app file ${file}: a service could not be reached`, error);
    throw new AppLoadError(file, error);
  }
  const picked = pickExport(mod, exportName, file);
  return { app: picked.app, exportName: picked.name, file };
}

function pickExport(
  mod: Record<string, unknown>,
  exportName: string | undefined,
  file: string,
): { app: QueueTasks; name: string } {
  // A CJS module (or a transpiled one) puts its exports under `default`.
  const defaultObj = mod.default;
  const nested =
    defaultObj && typeof defaultObj === "object" && !isQueueTasksApp(defaultObj)
      ? (defaultObj as Record<string, unknown>)
      : undefined;
  const lookup = (name: string): unknown =>
    Object.hasOwn(mod, name) ? mod[name] : nested && Object.hasOwn(nested, name) ? nested[name] : undefined;

  if (exportName !== undefined) {
    const value = lookup(exportName);
    if (value === undefined) throw new AppExportMissingError(`${file} has no export named ${exportName}`);
    if (!isQueueTasksApp(value))
      throw new AppExportMissingError(`export ${exportName} of ${file} is not a QueueTasks app`);
    return { app: value, name: exportName };
  }
  for (const name of ["app", "default"]) {
    const value = lookup(name);
    if (isQueueTasksApp(value)) return { app: value, name };
  }
  const apps = new Map<string, QueueTasks>();
  for (const source of [mod, nested ?? {}])
    for (const [name, value] of Object.entries(source))
      if (isQueueTasksApp(value) && ![...apps.values()].includes(value)) apps.set(name, value);
  if (apps.size === 1) {
    const [name, app] = [...apps.entries()][0]!;
    return { app, name };
  }
  if (apps.size === 0)
    throw new AppExportMissingError(
      `${file} exports no QueueTasks app (export one as "app" or default, or name it: ${file}#name)`,
    );
  throw new AppExportMissingError(
    `${file} exports several QueueTasks apps (${[...apps.keys()].join(", ")}); pick one: ${file}#name`,
  );
}

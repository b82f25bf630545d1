import { existsSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { QueueTasks } from "@qtasks/core";
import {
  AppExportMissingError,
  AppFileMissingError,
  AppLoadError,
  isUnreachable,
  UnreachableError,
} from "./errors";

/** `path[#export|:export]`, split. */
export interface AppSpec {
  file: string;
  exportName?: string;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/** Splits an app spec at `#` or at the last `:` followed by an identifier (not a drive letter). */
export function parseAppSpec(spec: string): AppSpec {
  const hash = spec.lastIndexOf("#");
  if (hash > 0) {
    const exportName = spec.slice(hash + 1);
    return exportName ? { file: spec.slice(0, hash), exportName } : { file: spec.slice(0, hash) };
  }
  const colon = spec.lastIndexOf(":");
  // `C:\app.ts` is a Windows path, not export `\app.ts` of file `C`.
  if (colon > 1 && IDENT.test(spec.slice(colon + 1)))
    return { file: spec.slice(0, colon), exportName: spec.slice(colon + 1) };
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

/** Lets `import()` load TypeScript (ESM and CJS) without a build step. Once per process. */
async function registerTsx(): Promise<void> {
  if (tsxRegistered) return;
  tsxRegistered = true;
  const [esm, cjs] = await Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]);
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
 * Loads the app: resolves the file against `cwd`, imports it (TypeScript through tsx), then picks
 * the named export, else `app`, else `default`, else the only QueueTasks app among the exports.
 */
export async function loadApp(spec: string, cwd = process.cwd()): Promise<LoadedApp> {
  const { file, exportName } = parseAppSpec(spec);
  const path = isAbsolute(file) ? file : resolve(cwd, file);
  if (!existsSync(path) || !statSync(path).isFile()) throw new AppFileMissingError(file);

  await registerTsx();
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

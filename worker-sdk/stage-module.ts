/**
 * Loads a worker's activity module: the real stage definitions it can run, and the code version
 * the module declares. Accepted shapes: `export const stages = [...]` or `{ id: stage }`, or a
 * default export of either; optionally `export const version = "v3"`.
 */
import { stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { AnyStage } from "../src/contract/stage-types.js";
import { ModuleLoadError, WorkerConfigError } from "./errors.js";
import { prepareUserModuleImport } from "./user-module-loader.js";

/** A loaded activity module. */
export interface StageModule {
  /** Absolute file the module was loaded from. */
  file: string;
  /** Whether `spec` named a file (watchable) rather than a package. */
  isPath: boolean;
  stages: Map<string, AnyStage>;
  /** The module's `export const version`, if any. */
  version: string | null;
  /** Modification time of `file` when loaded (ms). */
  mtimeMs: number;
}

let reloads = 0;

/** A module spec names a file when it is absolute or starts with `.`; otherwise it is a package. */
export function isPathSpec(spec: string): boolean {
  return isAbsolute(spec) || spec.startsWith(".");
}

/**
 * Imports `spec` (a path relative to `cwd`, or a package resolved from `cwd`). With `fresh`, the
 * import bypasses Node's module cache (a changed file yields new code; the old module stays in
 * memory for tasks still running on it).
 * @throws WorkerConfigError naming the module and what is wrong.
 */
export async function loadStageModule(spec: string, opts: { cwd?: string; fresh?: boolean } = {}): Promise<StageModule> {
  const cwd = opts.cwd ?? process.cwd();
  const isPath = isPathSpec(spec);
  let file: string;
  try {
    file = isPath ? resolve(cwd, spec) : createRequire(resolve(cwd, "noop.js")).resolve(spec);
  } catch (err) {
    throw new WorkerConfigError(`cannot resolve module "${spec}" from ${cwd}: ${(err as Error).message}`);
  }
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(file)).mtimeMs;
  } catch (err) {
    throw new WorkerConfigError(`module ${file} cannot be read: ${(err as Error).message}`);
  }
  const url = pathToFileURL(file);
  if (opts.fresh) url.search = `?jetflow-reload=${++reloads}-${Math.round(mtimeMs)}`;
  let mod: Record<string, unknown>;
  try {
    await prepareUserModuleImport(file);
    mod = (await import(url.href)) as Record<string, unknown>;
  } catch (err) {
    throw new ModuleLoadError(file, err);
  }
  const exported = mod.stages ?? mod.default;
  const list = Array.isArray(exported) ? exported : exported && typeof exported === "object" ? Object.values(exported) : null;
  if (!list || list.length === 0)
    throw new WorkerConfigError(
      `module ${file} must export "stages": a non-empty array of stage definitions (or { id: stage }), or a default export of one`,
    );
  const stages = new Map<string, AnyStage>();
  for (const s of list as AnyStage[]) {
    if (!s || typeof s.id !== "string" || typeof s.execute !== "function" || !s.schemas) {
      throw new WorkerConfigError(`module ${file}: every entry of "stages" must be a stage definition (defineStage)`);
    }
    if (stages.has(s.id)) throw new WorkerConfigError(`module ${file}: stage id "${s.id}" is exported twice`);
    stages.set(s.id, s);
  }
  const version = mod.version;
  if (version !== undefined && (typeof version !== "string" || version === ""))
    throw new WorkerConfigError(`module ${file}: "version" must be a non-empty string`);
  return { file, isPath, stages, version: (version as string | undefined) ?? null, mtimeMs };
}

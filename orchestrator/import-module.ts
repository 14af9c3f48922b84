import { pathToFileURL } from "node:url";

/** Set by bin/jetflow.js when it already registered tsx (running from sources). */
const REGISTERED = Symbol.for("jetflow.typescript-loader");

/** TypeScript extensions tsx compiles. */
const TYPESCRIPT = /\.[cm]?tsx?$/;

/**
 * Imports a user module by path, TypeScript or JavaScript. Node refuses `.ts` files
 * (ERR_UNKNOWN_FILE_EXTENSION), so for those tsx's ESM loader is registered first, once per
 * process: a workflow module can be written in TypeScript whether jetflow runs built or from source.
 */
export async function importUserModule(path: string): Promise<Record<string, unknown>> {
  const g = globalThis as Record<symbol, unknown>;
  if (TYPESCRIPT.test(path) && !g[REGISTERED]) {
    const { register } = await import("tsx/esm/api");
    register();
    g[REGISTERED] = true;
  }
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}

/**
 * Getting a process (or thread) ready to import a user's workflow or activity module.
 * - TypeScript: Node refuses `.ts` files (ERR_UNKNOWN_FILE_EXTENSION), so tsx's ESM loader is
 *   registered once, before the first one is imported, whether jetflow itself runs compiled or
 *   from source. tsx is jetflow's dependency, not the worker package's: where it is not
 *   installed, the import fails with Node's own error, naming the file.
 * - Resolve hooks bin/jetflow.js deferred to this point (its test-runner build mode): registered at
 *   start-up they would cost every module the CLI loads a round trip to the hooks thread, and only
 *   the user's modules need them.
 */

/** Set once tsx is registered in this process or thread (bin/jetflow.js sets it when running from source). */
export const TYPESCRIPT_LOADER = Symbol.for("jetflow.typescript-loader");

/** A function bin/jetflow.js leaves here: registers its resolve hooks; called once, before the first user module. */
export const USER_MODULE_HOOKS = Symbol.for("jetflow.user-module-hooks");

/** TypeScript extensions tsx compiles. */
export const TYPESCRIPT_FILE = /\.[cm]?tsx?$/;

/** Registers what importing `file` needs and this process does not have yet. */
export async function prepareUserModuleImport(file: string): Promise<void> {
  const g = globalThis as Record<symbol, unknown>;
  const hooks = g[USER_MODULE_HOOKS];
  if (typeof hooks === "function") {
    g[USER_MODULE_HOOKS] = undefined;
    hooks();
  }
  if (!TYPESCRIPT_FILE.test(file) || g[TYPESCRIPT_LOADER]) return;
  let api: { register: () => unknown };
  try {
    api = (await import(import.meta.resolve("tsx/esm/api"))) as { register: () => unknown };
  } catch {
    return; // not installed: the module's import reports the unknown extension
  }
  api.register();
  g[TYPESCRIPT_LOADER] = true;
}

import { pathToFileURL } from "node:url";
import { prepareUserModuleImport } from "../worker-sdk/user-module-loader.js";

/**
 * Imports a user module by path, TypeScript or JavaScript: for a `.ts` module tsx's ESM loader is
 * registered first, once per process, so a workflow module can be written in TypeScript whether
 * jetflow runs built or from source.
 */
export async function importUserModule(path: string): Promise<Record<string, unknown>> {
  await prepareUserModuleImport(path);
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}

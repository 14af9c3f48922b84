/**
 * Bundles an activity module into one self-contained ESM file with esbuild, so a worker can load
 * it from a work directory without a node_modules of its own (docs/deploy.md). The output depends
 * only on the entry's source tree: the same sources give the same bytes (a redeploy is idempotent).
 */
import { build } from "esbuild";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ValidationError } from "../../src/contract/errors.js";

/** A built bundle. */
export interface BuiltBundle {
  bytes: Uint8Array;
  /** Absolute entry file. */
  entry: string;
  /** esbuild warnings, as text. */
  warnings: string[];
}

// Bundled CommonJS dependencies may still call require() for node builtins: give the ESM output one.
const REQUIRE_SHIM =
  'import { createRequire as __jetflowCreateRequire } from "node:module"; const require = __jetflowCreateRequire(import.meta.url);';

/**
 * Bundles `entry` (TypeScript or JavaScript) with everything it imports except node builtins.
 * @throws ValidationError when the entry is missing or does not build (esbuild's messages).
 */
export async function bundleActivityModule(entry: string, o: { minify?: boolean } = {}): Promise<BuiltBundle> {
  const file = resolve(entry);
  if (!existsSync(file)) throw new ValidationError("deploy entry", [{ path: "entry", message: `${file} does not exist` }]);
  let result;
  try {
    result = await build({
      entryPoints: [file],
      // Relative paths in the output's comments: the bytes do not depend on where deploy runs.
      absWorkingDir: dirname(file),
      bundle: true,
      write: false,
      format: "esm",
      platform: "node",
      target: "node20",
      minify: o.minify ?? false,
      sourcemap: false,
      legalComments: "none",
      logLevel: "silent",
      banner: { js: REQUIRE_SHIM },
    });
  } catch (err) {
    const errors = (err as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors ?? [];
    throw new ValidationError(
      "deploy entry",
      errors.length > 0
        ? errors.map((e) => ({ path: e.location ? `${e.location.file}:${e.location.line}` : "entry", message: e.text }))
        : [{ path: "entry", message: (err as Error).message }],
    );
  }
  const out = result.outputFiles[0];
  if (!out) throw new ValidationError("deploy entry", [{ path: "entry", message: "esbuild produced no output" }]);
  return { bytes: out.contents, entry: file, warnings: result.warnings.map((w) => w.text) };
}

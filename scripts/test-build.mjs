// Compiles the library's TypeScript (the directories tsconfig.build.json includes) to plain ES
// modules under .jetflow-build/, one output file per source file, for the test runner: every
// `jetflow` child process a test spawns (orchestrators, workers, CLI commands) then starts from
// JavaScript instead of compiling the sources under tsx. Measured on a 2-core machine: an
// orchestrator's start-up cost about 1.5 s of CPU under tsx against 0.8 s compiled, and a suite
// run spawns hundreds of them. esbuild is the compiler tsx itself uses, so the output behaves as
// the sources do under tsx; it takes well under a second and runs before every suite, so it is
// never stale. bin/jetflow.js uses it only when JETFLOW_TEST_BUILD=1 (see build-hooks.js).
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";

/** What tsconfig.build.json compiles: the library, the CLI and the worker package. */
export const LIBRARY_DIRS = ["src", "adapters", "worker-sdk", "otel", "orchestrator", "console", "cli"];
/** Files the modules read or import next to themselves (src/ai/model-prices.json). */
const ASSET = /\.json$/;

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist") continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else out.push(full);
  }
  return out;
}

/**
 * Builds into `<root>/.jetflow-build` (next to package.json, so the modules that walk up to the
 * package root from their own location find it, as they do from dist/) and returns that path.
 */
export async function buildForTests(root) {
  const outdir = join(root, ".jetflow-build");
  rmSync(outdir, { recursive: true, force: true });
  const files = LIBRARY_DIRS.flatMap((d) => walk(join(root, d), []));
  const sources = files.filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.endsWith(".d.ts"));
  await build({
    entryPoints: sources,
    outdir,
    outbase: root,
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: "linked",
    logLevel: "warning",
  });
  for (const f of files.filter((f) => ASSET.test(f) && !f.endsWith("package.json") && !/tsconfig/.test(f))) {
    const to = join(outdir, relative(root, f));
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(f, to);
  }
  return outdir;
}

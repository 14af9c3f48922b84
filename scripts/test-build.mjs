// Compiles the checkout's TypeScript to plain ES modules under .jetflow-build/ (one output file
// per source file) for the test runner, so that neither the test files nor the jetflow processes
// they spawn compile sources under tsx: its loader hooks cost each process about 0.3 s of CPU to
// start and a round trip per module (an orchestrator started in 1.3 CPU-s under tsx, 0.6 s
// compiled), and a suite run starts hundreds of processes. esbuild is the compiler tsx itself
// uses, so the output behaves as the sources do under tsx; it takes about a second and runs before
// every suite, so it is never stale. Processes use it when JETFLOW_TEST_BUILD=1 (bin/package-paths.js).
//
// Library modules keep their own location (they find the package root, their migrations and their
// thread entry from it). Test, harness and fixture modules see their source location as
// import.meta.url: the paths they compute (fixtures handed to a spawned CLI, files they read, the
// repository root) are the checkout's, as under tsx.
import { build, transform } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { pathToFileURL } from "node:url";

/** Files a module imports next to itself that are not TypeScript (src/ai/model-prices.json, .mjs fixtures). */
const ASSET = /\.(json|mjs|cjs|js)$/;
const TS = /\.(ts|mts)$/;

/** Files under `dir`, recursively, that `keep` accepts (node_modules and dist/ left out, and any directory in `skip`). */
export function walk(dir, keep = () => true, skip = []) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    if (name === "node_modules" || name === "dist" || skip.includes(name)) return [];
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return walk(full, keep, skip);
    return keep(full) ? [full] : [];
  });
}

/** The `include` list of a tsconfig file of the checkout. */
function included(root, tsconfig) {
  return JSON.parse(readFileSync(join(root, tsconfig), "utf8")).include;
}

/** The compiled file of a source file: `x.ts` -> `.jetflow-build/x.js`. */
export function builtPath(root, file) {
  return join(root, ".jetflow-build", relative(root, file))
    .replace(/\.ts$/, ".js")
    .replace(/\.mts$/, ".mjs");
}

/**
 * Builds into `<root>/.jetflow-build` (next to package.json, so the modules that walk up to the
 * package root from their own location find it, as they do from dist/) and returns that path.
 */
export async function buildForTests(root) {
  const outdir = join(root, ".jetflow-build");
  rmSync(outdir, { recursive: true, force: true });
  const isSource = (f) => TS.test(f) && !f.endsWith(".d.ts");
  // What the package ships is compiled as it is; the rest of what tsconfig.json includes (tests,
  // their harness and fixtures, benches, the demo) sees its source location as import.meta.url.
  const libraryDirs = included(root, "tsconfig.build.json");
  const library = libraryDirs.flatMap((d) => walk(join(root, d)));
  const tests = included(root, "tsconfig.json")
    .filter((d) => !libraryDirs.includes(d))
    .flatMap((d) => walk(join(root, d)));
  await build({
    entryPoints: library.filter(isSource),
    outdir,
    outbase: root,
    format: "esm",
    platform: "node",
    target: "node20.19",
    sourcemap: "linked",
    logLevel: "warning",
  });
  const tsconfigRaw = { compilerOptions: { target: "ES2022", verbatimModuleSyntax: true, useDefineForClassFields: true } };
  await Promise.all(
    tests.filter(isSource).map(async (file) => {
      const url = pathToFileURL(file).href;
      const { code } = await transform(readFileSync(file, "utf8"), {
        loader: "ts",
        format: "esm",
        target: "node20.19",
        sourcefile: file,
        sourcemap: "inline",
        tsconfigRaw,
        define: {
          "import.meta.url": JSON.stringify(url),
          "import.meta.filename": JSON.stringify(file),
          "import.meta.dirname": JSON.stringify(dirname(file)),
        },
      });
      const to = builtPath(root, file);
      mkdirSync(dirname(to), { recursive: true });
      writeFileSync(to, code);
    }),
  );
  for (const f of [...library, ...tests].filter((f) => ASSET.test(f) && !/(^|\/)(package|tsconfig[^/]*)\.json$/.test(f))) {
    const to = join(outdir, relative(root, f));
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(f, to);
  }
  return outdir;
}

// Compiles the checkout's TypeScript to plain ES modules under .jetflow-build/ (one output file
// per source file) for the test runner, so that neither the test files nor the jetflow processes
// they spawn compile sources under tsx: its loader hooks cost each process about 0.3 s of CPU to
// start and a round trip per module (an orchestrator started in 1.3 CPU-s under tsx, 0.6 s
// compiled), and a suite run starts hundreds of processes. esbuild is the compiler tsx itself
// uses, so the output behaves as the sources do under tsx; it takes about a second and runs before
// every suite, so it is never stale. Processes use it when JETFLOW_TEST_BUILD names it (bin/package-paths.js).
//
// Library modules keep their own location (they find the package root, their migrations and their
// thread entry from it). Test, harness and fixture modules see their source location as
// import.meta.url: the paths they compute (fixtures handed to a spawned CLI, files they read, the
// repository root) are the checkout's, as under tsx.
import { build, transform } from "esbuild";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
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

/** The compiled file of a source file in build `id`: `x.ts` -> `.jetflow-build/<id>/x.js`. */
export function builtPath(root, id, file) {
  return join(root, ".jetflow-build", id, relative(root, file))
    .replace(/\.ts$/, ".js")
    .replace(/\.mts$/, ".mjs");
}

/** Builds older than this are removed by the next run (a run in progress uses its own). */
const STALE_BUILD_MS = 6 * 3600_000;

/**
 * Builds the checkout into `<root>/.jetflow-build/<id>` and returns `id`, a hash of the compiled
 * files' paths and contents. The same sources reuse their build, and a build appears whole (it is
 * written aside and renamed): two suites run at once from one checkout, even with an edit in
 * between, each keep theirs. The directory is two levels under package.json, within the walk up
 * that modules do from their own location to find the package root, as they do from dist/.
 */
export async function buildForTests(root) {
  const isSource = (f) => TS.test(f) && !f.endsWith(".d.ts");
  // What the package ships is compiled as it is; the rest of what tsconfig.json includes (tests,
  // their harness and fixtures, benches, the demo) sees its source location as import.meta.url.
  const libraryDirs = included(root, "tsconfig.build.json");
  const library = libraryDirs.flatMap((d) => walk(join(root, d)));
  const tests = included(root, "tsconfig.json")
    .filter((d) => !libraryDirs.includes(d))
    .flatMap((d) => walk(join(root, d)));
  const assets = [...library, ...tests].filter((f) => ASSET.test(f) && !/(^|\/)(package|tsconfig[^/]*)\.json$/.test(f));
  const hash = createHash("sha256").update(readFileSync(new URL("./test-build.mjs", import.meta.url)));
  for (const f of [...library, ...tests, ...assets]) hash.update(`\0${relative(root, f)}\0`).update(readFileSync(f));
  const id = hash.digest("hex").slice(0, 16);
  const builds = join(root, ".jetflow-build");
  const final = join(builds, id);
  mkdirSync(builds, { recursive: true });
  for (const name of readdirSync(builds)) {
    const dir = join(builds, name);
    if (name !== id && Date.now() - statSync(dir).mtimeMs > STALE_BUILD_MS) rmSync(dir, { recursive: true, force: true });
  }
  if (existsSync(final)) {
    const now = new Date();
    utimesSync(final, now, now); // in use again: not stale for another run's clean-up
    return id;
  }
  const outdir = mkdtempSync(join(builds, `.${id}-`));
  try {
    chmodSync(outdir, 0o755); // mkdtemp's 0700 would shut out a test's process running as another user
    await compile(root, outdir, library.filter(isSource), tests.filter(isSource), assets);
    renameSync(outdir, final);
  } catch (err) {
    rmSync(outdir, { recursive: true, force: true });
    // Another run built the same sources first: use theirs.
    if (!existsSync(final)) throw err;
  }
  return id;
}

async function compile(root, outdir, library, tests, assets) {
  await build({
    entryPoints: library,
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
    tests.map(async (file) => {
      const { code } = await transform(readFileSync(file, "utf8"), {
        loader: "ts",
        format: "esm",
        target: "node20.19",
        sourcefile: file,
        sourcemap: "inline",
        tsconfigRaw,
        define: {
          "import.meta.url": JSON.stringify(pathToFileURL(file).href),
          "import.meta.filename": JSON.stringify(file),
          "import.meta.dirname": JSON.stringify(dirname(file)),
        },
      });
      const to = join(outdir, relative(root, file))
        .replace(/\.ts$/, ".js")
        .replace(/\.mts$/, ".mjs");
      mkdirSync(dirname(to), { recursive: true });
      writeFileSync(to, code);
    }),
  );
  for (const f of assets) {
    const to = join(outdir, relative(root, f));
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(f, to);
  }
}

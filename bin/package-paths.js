// Paths bin/jetflow.js and the test runner share: the package's exports map, and the test
// runner's compiled copy of a checkout (scripts/test-build.mjs) with the resolve hooks that
// point a process at it (build-hooks.js).
import { existsSync, readFileSync } from "node:fs";
import { register } from "node:module";

const ROOT = new URL("../", import.meta.url);
/**
 * The test runner's compiled copy of this checkout that JETFLOW_TEST_BUILD names (a build id),
 * or null. An installed package has none.
 */
export function testBuild() {
  const id = process.env.JETFLOW_TEST_BUILD;
  if (!id || !/^[0-9a-f]{16}$/.test(id)) return null;
  const dir = new URL(`.jetflow-build/${id}/`, ROOT);
  return existsSync(new URL("cli/main.js", dir)) ? dir : null;
}
/** Every directory the test build compiles: the ones tsconfig.json includes (read in a checkout only). */
export function testBuildDirs() {
  return JSON.parse(readFileSync(new URL("tsconfig.json", ROOT), "utf8")).include;
}

/** The package's exports map: each specifier ("jetflow", "jetflow/worker") to `locate(its ./dist/… target)`. */
export function exportsMap(locate) {
  const pkg = JSON.parse(readFileSync(new URL("package.json", ROOT), "utf8"));
  const map = {};
  for (const [key, target] of Object.entries(pkg.exports)) {
    const file = typeof target === "string" ? target : target.default;
    map[key === "." ? pkg.name : `${pkg.name}/${key.slice(2)}`] = locate(file);
  }
  return map;
}

/**
 * Prepares this process to resolve the checkout's modules into the test build: "jetflow" specifiers
 * and any path into a compiled directory. The hooks are registered only before the first user
 * module is imported (worker-sdk/user-module-loader.ts): at start-up they would cost every module
 * the process loads a round trip to the hooks thread. Activity threads register them at their
 * start (worker-sdk/thread-pool.ts reads JETFLOW_SOURCE_HOOKS).
 */
export function useTestBuild(build) {
  const buildRoot = build.href;
  const data = {
    specifiers: exportsMap((file) => new URL(file.replace(/^\.\/dist\//, ""), buildRoot).href),
    sourceRoot: ROOT.href,
    buildRoot,
    dirs: testBuildDirs(),
  };
  const url = new URL("build-hooks.js", import.meta.url).href;
  globalThis[Symbol.for("jetflow.user-module-hooks")] = () => register(url, { data });
  process.env.JETFLOW_SOURCE_HOOKS = JSON.stringify({ url, data });
}

// Paths bin/jetflow.js and the test runner share: the package's exports map, and the test
// runner's compiled copy of a checkout (scripts/test-build.mjs) with the resolve hooks that
// point a process at it (build-hooks.js).
import { existsSync, readFileSync } from "node:fs";
import { register } from "node:module";

const ROOT = new URL("../", import.meta.url);
/** The test runner's compiled copy of this checkout. An installed package has none. */
export const TEST_BUILD = new URL(".jetflow-build/", ROOT);
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

/** Whether this checkout has a test build (JETFLOW_TEST_BUILD=1 asks for it; JETFLOW_CLI_FROM_SOURCE=1 overrides). */
export function testBuildWanted() {
  return process.env.JETFLOW_TEST_BUILD === "1" && !process.env.JETFLOW_CLI_FROM_SOURCE && existsSync(new URL("cli/main.js", TEST_BUILD));
}

/**
 * Prepares this process to resolve the checkout's modules into the test build: "jetflow" specifiers
 * and any path into a compiled directory. The hooks are registered only before the first user
 * module is imported (worker-sdk/user-module-loader.ts): at start-up they would cost every module
 * the process loads a round trip to the hooks thread. Activity threads register them at their
 * start (worker-sdk/thread-pool.ts reads JETFLOW_SOURCE_HOOKS).
 */
export function useTestBuild() {
  const buildRoot = TEST_BUILD.href;
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

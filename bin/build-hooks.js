// Module resolve hooks for the test runner's compiled copy of the checkout (JETFLOW_TEST_BUILD,
// scripts/test-build.mjs; registered by package-paths.js). A workflow or activity module under
// test imports jetflow as a user would ("jetflow", "jetflow/worker") or by path into the checkout
// ("../../../src/index.js", a fixture's own .ts file); each must reach the build the process itself
// runs, or it would get a second copy of the library next to the process's own. So every such
// import resolves into the build.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

let specifiers = {};
let sourceRoots = [];
let sourceRoot = "";
let buildRoot = "";

/**
 * `data.specifiers` maps each export specifier to a file URL in the build; `data.sourceRoot` and
 * `data.buildRoot` are directory URLs (with a trailing slash); `data.dirs` the compiled directories.
 */
export function initialize(data) {
  specifiers = data.specifiers;
  sourceRoot = data.sourceRoot;
  buildRoot = data.buildRoot;
  sourceRoots = data.dirs.map((d) => `${sourceRoot}${d}/`);
}

/** The build's file for a source file URL (`.ts` or `.js` under a compiled directory), if it has one. */
function inBuild(url) {
  if (!url.startsWith(sourceRoot) || url.startsWith(buildRoot)) return null;
  if (!sourceRoots.some((r) => url.startsWith(r))) return null;
  const target = `${buildRoot}${url.slice(sourceRoot.length)}`.replace(/\.ts$/, ".js");
  return target.endsWith(".js") && existsSync(fileURLToPath(target)) ? target : null;
}

export async function resolve(specifier, context, nextResolve) {
  const mapped = specifiers[specifier];
  if (mapped) return nextResolve(mapped, context);
  if (context.parentURL && (specifier.startsWith(".") || specifier.startsWith("file:"))) {
    const target = inBuild(new URL(specifier, context.parentURL).href);
    if (target) return nextResolve(target, context);
  }
  return nextResolve(specifier, context);
}

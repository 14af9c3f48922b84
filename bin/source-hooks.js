// Module resolve hooks for running jetflow from its TypeScript sources (a fresh clone without
// dist/, or JETFLOW_CLI_FROM_SOURCE=1). A user's workflow module imports "jetflow" (or
// "jetflow/worker", ...), whose package exports point into dist/: without a build that fails
// with ERR_MODULE_NOT_FOUND, and with a stale build the workflow would get a second copy of
// the library next to the CLI's. So every "jetflow" specifier resolves to the source file the
// CLI itself runs; tsx (registered before these hooks) compiles it.
let sources = {};

/** `data.sources` maps each export specifier ("jetflow", "jetflow/worker") to a file URL. */
export function initialize(data) {
  sources = data.sources;
}

export function resolve(specifier, context, nextResolve) {
  const target = sources[specifier];
  return target ? nextResolve(target, context) : nextResolve(specifier, context);
}

#!/usr/bin/env node
// The `jetflow` executable. Runs the compiled CLI (dist/) when the package is built;
// on a fresh clone without a build it compiles cli/main.ts on the fly with tsx, so
// `npx jetflow --help` works right after `npm install`. JETFLOW_CLI_FROM_SOURCE=1 forces
// the source path (useful when dist/ may be stale). Either way the process exits at most
// 1 s after the command's work is done (cli/main.ts bounds the telemetry flush): an exporter
// still retrying an unreachable collector must not hold it open.
import { existsSync } from "node:fs";
import { exportsMap, testBuild, useTestBuild } from "./package-paths.js";

const built = new URL("../dist/cli/main.js", import.meta.url);
const build = process.env.JETFLOW_CLI_FROM_SOURCE ? null : testBuild();
let cli;
if (build) {
  // The test runner's compiled copy of this checkout (scripts/test-build.mjs); an installed
  // package has none, so a package a test installs runs its own dist/ even with the variable set.
  useTestBuild(build);
  cli = await import(new URL("cli/main.js", build).href);
} else if (existsSync(built) && !process.env.JETFLOW_CLI_FROM_SOURCE) {
  cli = await import(built.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  // Registered after tsx, so these run first: "jetflow" in a user's workflow module means the
  // sources this process runs (see source-hooks.js), not a missing or stale dist/.
  const { register: registerHooks } = await import("node:module");
  const data = { sources: exportsMap((file) => new URL(file.replace(/^\.\/dist\//, "../").replace(/\.js$/, ".ts"), import.meta.url).href) };
  const hooksUrl = new URL("./source-hooks.js", import.meta.url).href;
  registerHooks(hooksUrl, { data });
  // Activity threads do not inherit module hooks (Node 20): worker-sdk/thread-pool.ts re-registers these.
  process.env.JETFLOW_SOURCE_HOOKS = JSON.stringify({ url: hooksUrl, data });
  // Tells the workflow loader that TypeScript modules already load in this process.
  globalThis[Symbol.for("jetflow.typescript-loader")] = true;
  cli = await import(new URL("../cli/main.ts", import.meta.url).href);
}
process.exitCode = await cli.main(process.argv);
// Whatever still holds the event loop (an exporter retrying a dead collector) gets 200 ms once
// stdout and stderr are flushed; usually the process has exited on its own by then.
let flushed = 0;
const exitSoon = () => ++flushed === 2 && setTimeout(() => process.exit(), 200).unref();
process.stdout.write("", exitSoon);
process.stderr.write("", exitSoon);

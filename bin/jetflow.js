#!/usr/bin/env node
// The `jetflow` executable. Runs the compiled CLI (dist/) when the package is built;
// on a fresh clone without a build it compiles cli/main.ts on the fly with tsx, so
// `npx jetflow --help` works right after `npm install`. JETFLOW_CLI_FROM_SOURCE=1 forces
// the source path (useful when dist/ may be stale).
import { existsSync } from "node:fs";

const built = new URL("../dist/cli/main.js", import.meta.url);
let cli;
if (existsSync(built) && !process.env.JETFLOW_CLI_FROM_SOURCE) {
  cli = await import(built.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import(new URL("../cli/main.ts", import.meta.url).href);
}
process.exitCode = await cli.main(process.argv);

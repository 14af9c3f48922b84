#!/usr/bin/env node
// The `jetflow-worker-service` executable of the worker package (built code in dist/).
const { runWorkerCli } = await import(new URL("../dist/worker-sdk/cli/main.js", import.meta.url).href);
process.exitCode = await runWorkerCli("worker-service", process.argv.slice(2));

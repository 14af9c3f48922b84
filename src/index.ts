// Public entry point of `jetflow`: stages, builder, kernel, hosts, executors.
export * from "./ports/index.js";
export * from "./kernel/commands.js";
export type * from "./kernel/types.js";
export type * from "./kernel/plugins.js";
export * from "./contract/errors.js";
export type * from "./contract/stage-types.js";
export type * from "./builder/types.js";
export { createKernel } from "./kernel/create-kernel.js";
export { definePlugin, createPluginRunner } from "./kernel/plugins-runtime.js";
export type { PluginRunner } from "./kernel/plugins-runtime.js";
export { createLocalExecutor } from "./executors/local.js";
export { createRoutingExecutor } from "./executors/routing.js";
export type { RoutingExecutorOptions } from "./executors/routing.js";
export * from "./stages/index.js";
export * from "./builder/index.js";
export * from "./conventions/index.js";
export * from "./hosts/index.js";
export * from "./remote/index.js";

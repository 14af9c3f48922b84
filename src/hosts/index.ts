// Hosts: process management around the kernel.
export { createNodeHost } from "./node-host.js";
export type { NodeHost, NodeHostConfig, HostStats } from "./node-host.js";
export { createServerlessHost } from "./serverless-host.js";
export type { ServerlessHost, ServerlessHostConfig, JobMessage, JobResult, ProcessJobsResult } from "./serverless-host.js";
export type { MaintenanceTickResult, TickStepError } from "./maintenance.js";
export type { HostTuning } from "./host-options.js";

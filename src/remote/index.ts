// Orchestrator side of remote activities (exported from `jetflow`).
export { Broker, createBroker } from "./broker.js";
export type { BrokerOptions, ReportResult, ReapResult } from "./broker.js";
export { defineRemoteStage } from "./remote-stage.js";
export type { RemoteStageOptions, RemoteStageState } from "./remote-stage.js";
export { RemoteTimeouts } from "./timeouts.js";
export { createRemoteExecutor } from "./remote-executor.js";
export type { RemoteExecutorOptions } from "./remote-executor.js";
export { createInProcessTransport } from "./in-process-transport.js";
export type { InProcessTransport } from "./in-process-transport.js";
export { remoteTaskId, taskArtifactPrefix } from "./types.js";
export type { TaskDispatcher, SubmitSpec, TaskOutcome, TaskOutcomeStatus, RemoteActivityClient } from "./types.js";
export type { LeasedTask, NextOptions, PresignCall, WorkerTransport } from "../contract/worker-transport.js";
export { attemptPrefix, resolveScopedKey } from "./presign-scope.js";
export { PresignRefusedError, LeaseNotHeldError, TaskNotFoundError, DispatcherMissingError, RemoteActivityError } from "./errors.js";

// Public entry point of the worker package (`@jetflow/worker`, also `jetflow/worker`): what a
// credential-free worker machine installs. Activity modules define their stages with the same
// defineStage as workflows do, so one module serves the orchestrator and the workers.
export { defineStage } from "../src/contract/define-stage.js";
export { NonRetryableStageError } from "../src/contract/stage-errors.js";
export type { StageContext, StageArtifacts, AnyStage } from "../src/contract/stage-types.js";
export { runWorkerCli, type CliHooks, type WorkerCommand } from "./cli/main.js";
export { createActivityWorker } from "./worker.js";
export type { ActivityWorker, ActivityWorkerOptions, Isolation, WorkerStats, WorkerStatus } from "./worker.js";
export {
  WORKER_DEFAULTS,
  DEFAULT_THREAD_HEAP_MB,
  DEFAULT_CANCEL_GRACE_MS,
  DEFAULT_POLL_WAIT_MS,
  DEFAULT_THREAD_MAX_ATTEMPTS,
} from "./worker-options.js";
export type { LeasedTask, NextOptions, PresignCall, WorkerTransport } from "./transport.js";
export type { WorkerLogger } from "./logger.js";
export { silentWorkerLogger } from "./logger.js";
export { createRemoteArtifacts, DEFAULT_PART_SIZE } from "./artifacts.js";
export {
  WorkerError,
  ActivityCancelledError,
  LeaseLostError,
  WorkerStoppingError,
  TaskValidationError,
  NotAvailableRemotelyError,
  ArtifactTransferError,
  ArtifactTooLargeError,
  WorkerConfigError,
  ActivityCrashedError,
  ActivityHeapExhaustedError,
  ActivityStartTimeoutError,
} from "./errors.js";
export { isRetryable, retryDelayMs, DEFAULT_RETRY_POLICY } from "../src/contract/failure-policy.js";
export type { WorkerErrorCode } from "./errors.js";
export { createNatsWorkerTransport, NatsTransportError, type NatsWorkerTransportOptions } from "./nats-transport.js";
export { createNatsFleetMember, type NatsFleetMemberOptions } from "./nats-fleet.js";
export type { FleetMember, FleetWorkerView } from "./fleet-member.js";
export { startWorkerService, type WorkerService, type WorkerServiceOptions } from "./worker-service.js";
export { loadStageModule, type StageModule } from "./stage-module.js";
export { inboxPrefixFromCreds } from "./creds.js";

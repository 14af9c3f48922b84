/**
 * `jetflow`: the public API for writing workflows and embedding the engine — stages, the
 * workflow builder, the kernel, hosts, executors, remote stages, errors, annotation
 * conventions, plugins, and the port types adapter authors implement. An explicit list on
 * purpose: a name is public only when it is written here. Implementation details live in
 * `jetflow/internal` (unstable).
 */

// Stages: definitions, failure policy, stage-id helpers
export { defineStage, defineAsyncBatchStage } from "./contract/define-stage.js";
export { NonRetryableStageError } from "./contract/stage-errors.js";
export { DEFAULT_RETRY_POLICY } from "./contract/failure-policy.js";
export { STAGE_ID_PATTERN } from "./contract/stage-id.js";
export { createStageIds, defineStageIds, isValidStageId, assertValidStageId, UnknownStageIdError } from "./stages/stage-ids.js";

// Workflow builder
export { WorkflowBuilder, WORKFLOW_ID_PATTERN } from "./builder/workflow-builder.js";

// Kernel and plugins
export { createKernel } from "./kernel/create-kernel.js";
export { definePlugin } from "./kernel/plugins-runtime.js";

// Hosts: process management around the kernel
export { createNodeHost } from "./hosts/node-host.js";
export { createServerlessHost } from "./hosts/serverless-host.js";

// Executors: where a stage's code runs
export { createLocalExecutor } from "./executors/local.js";
export { createRoutingExecutor } from "./executors/routing.js";

// Remote stages: orchestrator side of remote activities
export { defineRemoteStage } from "./remote/remote-stage.js";
export { wakeSuspendedStages } from "./remote/wake-on-outcome.js";
export { createRemoteExecutor } from "./remote/remote-executor.js";
export { Broker, createBroker } from "./remote/broker.js";
export { PresignRefusedError, LeaseNotHeldError, TaskNotFoundError, DispatcherMissingError, RemoteActivityError } from "./remote/errors.js";

// Errors
export {
  JetflowError,
  ValidationError,
  WorkflowNotFoundError,
  RunNotFoundError,
  StageNotFoundError,
  InvalidStateError,
  IdempotencyInProgressError,
} from "./contract/errors.js";

// Annotation conventions
export { typedKey, ANNOTATION_KEY_PATTERN, Trigger, Decision, Approval, Revision } from "./conventions/index.js";

// Port helpers for adapter authors
export { TERMINAL_RUN_STATUSES, TERMINAL_STAGE_STATUSES } from "./ports/records.js";
export { systemClock } from "./ports/clock.js";
export { silentLogger } from "./ports/logger.js";

// Workflow events
export { WORKFLOW_EVENT_TYPES } from "./contract/event-message.js";

// Stage types: what a stage is and what its code sees
export type { DefinedStage, SyncStageDefinition, AsyncBatchStageDefinition } from "./contract/define-stage.js";
export type {
  Actor,
  ActorKind,
  Annotate,
  AnnotationInput,
  AnyStage,
  CheckContext,
  CompletedOutcome,
  CompletionCheck,
  InferSchema,
  LogLevel,
  PollConfig,
  RetryPolicy,
  SchemaOrNone,
  Stage,
  StageArtifacts,
  StageContext,
  StageMode,
  StageOutcome,
  StageSchemas,
  SuspendedOutcome,
  TypedKey,
} from "./contract/stage-types.js";
export type { StageIdMap, StageIdsOf, StageIdSource } from "./stages/stage-ids.js";

// Workflow types
export type { AnyWorkflow, ConfigIssue, ConfigValidation, ExecutionGroup, ExecutionPlanEntry, Workflow } from "./builder/types.js";
export type { TypedWorkflow, WorkflowContextOf, StageOutputOf, WithStageOutputs } from "./builder/workflow-builder.js";

// Kernel types: the kernel, its options, and the commands it executes
export type { Kernel, KernelConfig, KernelOptions, RunStarter, RunView } from "./kernel/types.js";
export type { KernelPlugin } from "./kernel/plugins.js";
export type {
  CommandResult,
  CommandResultMap,
  KernelCommand,
  KernelCommandType,
  JobDeadLetterCommand,
  JobDeadLetterResult,
  JobExecuteCommand,
  JobExecuteResult,
  LeaseReapStaleCommand,
  LeaseReapStaleResult,
  OutboxFlushCommand,
  OutboxFlushResult,
  PluginReplayDLQCommand,
  PluginReplayDLQResult,
  RunCancelCommand,
  RunCancelResult,
  RunClaimPendingCommand,
  RunClaimPendingResult,
  RunCreateCommand,
  RunCreateResult,
  RunReapStuckCommand,
  RunReapStuckResult,
  RunRerunFromCommand,
  RunRerunFromResult,
  RunTransitionCommand,
  RunTransitionResult,
  StagePollSuspendedCommand,
  StagePollSuspendedResult,
  StageWakeCommand,
  StageWakeResult,
} from "./kernel/commands.js";

// Host and executor types
export type { NodeHost, NodeHostConfig, HostStats } from "./hosts/node-host.js";
export type { ServerlessHost, ServerlessHostConfig, JobMessage, JobResult, ProcessJobsResult } from "./hosts/serverless-host.js";
export type { MaintenanceTickResult, TickStepError } from "./hosts/maintenance.js";
export type { HostTuning } from "./hosts/host-options.js";
export type { RoutingExecutorOptions } from "./executors/routing.js";

// Remote stage types
export type { RemoteStageOptions, RemoteStageState } from "./remote/remote-stage.js";
export type { RemoteExecutorOptions } from "./remote/remote-executor.js";
export type { BrokerOptions, ReportResult, ReapResult } from "./remote/broker.js";
export type { TaskDispatcher, SubmitSpec, TaskOutcome, TaskOutcomeStatus, RemoteActivityClient } from "./remote/types.js";

// Error and convention types
export type { JetflowErrorCode } from "./contract/errors.js";
export type { ValidationIssue } from "./contract/validation.js";
export type { ApprovalStatus } from "./conventions/index.js";

// Port types: the interfaces an adapter implements, and the records they hold
export type {
  Persistence,
  PersistenceTx,
  NewRun,
  NewStage,
  NewLog,
  NewAnnotation,
  NewOutboxRow,
  RunPatch,
  StagePatch,
  RunGuard,
  StageGuard,
  RunFilter,
  AnnotationFilter,
  IdempotencyAcquire,
} from "./ports/persistence.js";
export type {
  RunRecord,
  RunStatus,
  StageRecord,
  StageStatus,
  LogRecord,
  AnnotationRecord,
  ArtifactRecord,
  AICallRecord,
  IdempotencyRecord,
  OutboxRecord,
  OutboxKind,
} from "./ports/records.js";
export type { JobTransport, JobSpec, LeasedJob, DequeueOptions, DeadLetteredJob } from "./ports/job-transport.js";
export type { BlobStore } from "./ports/blob-store.js";
export type { Presigner, PresignedUrl, PresignedPart, MultipartUpload } from "./ports/presigner.js";
export type { EventSink, WorkflowEvent } from "./ports/event-sink.js";
export type { Scheduler } from "./ports/scheduler.js";
export type { Clock } from "./ports/clock.js";
export type { Logger } from "./ports/logger.js";
export type { WorkflowRegistry } from "./ports/registry.js";
export type { ActivityExecutor, ActivityRequest } from "./ports/activity-executor.js";
export type {
  ActivityTaskStore,
  ActivityTaskRecord,
  ActivityTaskStatus,
  NewActivityTask,
  ActivityOutcome,
  ActivityReport,
  ReportVerdict,
} from "./ports/activity-task-store.js";
export type { TraceCarrier } from "./contract/trace-headers.js";
export type { WorkflowEventType } from "./contract/event-message.js";

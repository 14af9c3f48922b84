/**
 * `jetflow/internal`: UNSTABLE. The implementation details jetflow's own adapters, CLI and
 * orchestrator share — the wire protocol (subjects, headers, message schemas and their
 * parse/encode helpers), telemetry helpers, defaults and retry arithmetic, the plugin runner,
 * remote-task naming and presign scoping. Exported for out-of-tree adapters that must speak
 * the same protocol; any of it may change in a minor release. Application code imports `jetflow`.
 */

// Wire protocol: subjects, stream names and subject-safe tokens
export { createTopology } from "./contract/topology.js";
export { Headers, TRACE_HEADERS, Schemas } from "./contract/headers.js";
export { encodeToken, decodeToken, isSafeToken, eventTypeToken, eventTypeFromToken, priorityToken } from "./contract/tokens.js";
export { ProtocolError } from "./contract/protocol-error.js";

// Wire protocol: job and event messages
export { JobMessage, toJobMessage, encodeJob, parseJob, parseJsonBody, zodToProtocolError } from "./contract/job-message.js";
export { EventMessage, toEventMessage, encodeEvent, parseEvent } from "./contract/event-message.js";

// Wire protocol: remote task, heartbeat, report and presign messages
export {
  TaskMessage,
  HeartbeatRequest,
  HeartbeatReply,
  ReportLog,
  ReportAnnotation,
  OutputRef,
  ReportMessage,
  PresignRequest,
  PresignReply,
  TaskErrorReply,
  parseTaskMessage,
  parseHeartbeatRequest,
  parseHeartbeatReply,
  parseReportMessage,
  parsePresignRequest,
  parsePresignReply,
  parseTaskErrorReply,
  encodeTaskBody,
  unwrap,
  toTaskErrorReply,
  labelsSatisfy,
} from "./contract/tasks.js";

// Wire protocol: the submission API (jetflow.api.*)
export {
  apiSubject,
  API_ENDPOINTS,
  API_SCHEMAS,
  API_ERROR_STATUS,
  ApiErrorBody,
  RunCreateRequest,
  RunCreateReply,
  RunGetRequest,
  RunGetReply,
  RunListRequest,
  RunListReply,
  RunCancelRequest,
  RunCancelReply,
  RunRerunRequest,
  RunRerunReply,
  RunAnnotateRequest,
  RunAnnotateReply,
  StatsRequest,
  StatsReply,
  WorkersListRequest,
  WorkersListReply,
  RunJson,
  StageJson,
  LogJson,
  UnservedTaskJson,
} from "./contract/api-messages.js";

// Wire protocol: worker fleet registry and control
export {
  workerRegistryBucket,
  workerRegistryKey,
  controlSubject,
  controlFilter,
  workersServing,
  parseWorkerRecord,
  parseControlReply,
  FleetWorkerStatus,
  WorkerRecord,
  ControlOp,
  ControlReply,
  DEFAULT_FLEET_HEARTBEAT_MS,
  DEFAULT_UNHEALTHY_AFTER_MS,
  DEFAULT_REGISTRY_TTL_MS,
} from "./contract/fleet.js";

// Wire protocol: the worker service's control subjects
export {
  workerServiceSubject,
  WS_OPS,
  WsStartRequest,
  WsStopRequest,
  WsStatusRequest,
  WsProjectStatus,
  WsListReply,
  WsErrorReply,
} from "./contract/worker-service.js";

// Telemetry helpers: spans, metrics, trace propagation, log correlation
export { inSpan, recordSpanError, TRACER_NAME, SpanKind } from "./contract/spans.js";
export {
  countRunTransition,
  countTaskOutcome,
  countRedelivery,
  recordActivityDuration,
  recordHeartbeatGap,
  recordOutboxLag,
  observeJobQueueDepth,
  METER_NAME,
} from "./contract/metrics.js";
export {
  injectTraceHeaders,
  extractTraceHeaders,
  carrierFromContext,
  carrierFromHeaders,
  contextFromCarrier,
} from "./contract/trace-headers.js";
export { traceLogFields } from "./contract/log-correlation.js";

// Defaults, retry arithmetic, bounded waits, validation formatting
export {
  DEFAULT_INLINE_OUTPUT_LIMIT_BYTES,
  DEFAULT_TASK_HEARTBEAT_INTERVAL_MS,
  DEFAULT_TASK_LEASE_MS,
  DEFAULT_STUCK_RUN_THRESHOLD_MS,
  DEFAULT_PART_SIZE,
} from "./contract/defaults.js";
export { isRetryable, backoffDelay, retryDelayMs, LoopBackoff } from "./contract/failure-policy.js";
export { abortableDelay } from "./contract/abortable-delay.js";
export { issuesFromZod, formatIssues } from "./contract/validation.js";

// Kernel internals: the plugin runner the hosts drive
export { createPluginRunner } from "./kernel/plugins-runtime.js";

// Remote activities: task ids, artifact prefixes, presign scoping
export { remoteTaskId, taskArtifactPrefix } from "./remote/types.js";
export { attemptPrefix, resolveScopedKey } from "./remote/presign-scope.js";

// Wire protocol types
export type { Topology, TopologyOptions } from "./contract/topology.js";
export type { ProtocolIssue, ParseResult } from "./contract/protocol-error.js";
export type { JobValue } from "./contract/job-message.js";
export type { EventValue } from "./contract/event-message.js";
export type { ApiEndpoint, ApiRequest, ApiReply } from "./contract/api-messages.js";
export type { WsOp } from "./contract/worker-service.js";

// Telemetry types
export type { SpanOptions } from "./contract/spans.js";
export type { HeaderAccess } from "./contract/trace-headers.js";

// Kernel and remote types
export type { PluginRunner } from "./kernel/plugins-runtime.js";
export type { KeyScope } from "./remote/presign-scope.js";
export type { LeasedTask, NextOptions, PresignCall, WorkerTransport } from "./contract/worker-transport.js";

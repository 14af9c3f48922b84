/**
 * NATS header names used on every jetflow message. Header names are case-insensitive on the
 * wire in practice, but jetflow always writes them exactly as below.
 */
export const Headers = {
  /** JetStream de-duplication id (job id, outbox event id). */
  MsgId: "Nats-Msg-Id",
  /** W3C trace context (https://www.w3.org/TR/trace-context/). */
  TraceParent: "traceparent",
  TraceState: "tracestate",
  /** W3C baggage. */
  Baggage: "baggage",
  /** Schema of the body, e.g. `jetflow.job.v1`; lets a consumer reject bodies it does not know. */
  Schema: "jetflow-schema",
  /** Stage attempt (1-based) the job was created for. */
  Attempt: "jetflow-attempt",
  JobId: "jetflow-job-id",
  RunId: "jetflow-run-id",
  WorkflowId: "jetflow-workflow-id",
  StageId: "jetflow-stage-id",
  /** ISO-8601 instant before which a job must not run. */
  AvailableAt: "jetflow-available-at",
  /** Event type, e.g. `workflow:completed` (the subject carries the token form). */
  EventType: "jetflow-event-type",
} as const;

/** Header names that carry W3C trace context; copied between a TraceCarrier and NATS headers. */
export const TRACE_HEADERS = [Headers.TraceParent, Headers.TraceState, Headers.Baggage] as const;

/** Body schema identifiers (value of the `jetflow-schema` header). */
export const Schemas = {
  Job: "jetflow.job.v1",
  Event: "jetflow.event.v1",
} as const;

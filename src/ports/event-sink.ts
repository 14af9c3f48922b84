/** Event types the kernel emits through the outbox. */
/** Every event type the kernel emits (the one list: protocol schemas and plugin checks derive from it). */
export const WORKFLOW_EVENT_TYPES = [
  "workflow:created",
  "workflow:started",
  "workflow:completed",
  "workflow:failed",
  "workflow:cancelled",
  "workflow:rerun",
  "stage:started",
  "stage:completed",
  "stage:failed",
  "stage:suspended",
  "stage:resumed",
  "stage:retrying",
  "stage:cancelled",
] as const;
export type WorkflowEventType = (typeof WORKFLOW_EVENT_TYPES)[number];

export interface WorkflowEvent {
  /** Outbox row id: sinks de-duplicate on it. */
  id: string;
  type: WorkflowEventType;
  workflowRunId: string;
  workflowId: string;
  stageId?: string;
  /** ISO-8601 instant the event was recorded. */
  timestamp: string;
  data: Record<string, unknown>;
}

/** Where flushed outbox events go (NATS subject, webhook, plugin runner, test collector). */
export interface EventSink {
  publish(event: WorkflowEvent): Promise<void>;
}

import type { WorkflowEventType } from "../contract/event-message.js";
export { WORKFLOW_EVENT_TYPES, type WorkflowEventType } from "../contract/event-message.js";

/** A workflow event as delivered to an {@link EventSink}. */
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

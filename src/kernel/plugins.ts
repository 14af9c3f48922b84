import type { WorkflowEvent, WorkflowEventType } from "../ports/event-sink.js";

/** Reacts to kernel events delivered by `outbox.flush`; a throw retries the event, then dead-letters it. */
export interface KernelPlugin {
  id: string;
  name: string;
  /** Event types handled; "*" for all. */
  on: readonly WorkflowEventType[] | "*";
  handle(event: WorkflowEvent): Promise<void>;
}

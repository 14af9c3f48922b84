/**
 * Body of a workflow event on `<prefix>.events.<workflowId>.<runId>.<type>` (JSON, UTF-8): the
 * kernel's `WorkflowEvent` as flushed from the outbox. `id` (the outbox row id) is also the
 * `Nats-Msg-Id`, so a re-flushed row is stored once.
 */
import { z } from "zod";
import type { ParseResult } from "./protocol-error.js";
import { parseJsonBody, zodToProtocolError } from "./job-message.js";

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
/** Type of a workflow event (`workflow:started`, `stage:completed`, ...). */
export type WorkflowEventType = (typeof WORKFLOW_EVENT_TYPES)[number];

/** Schema of a workflow event as published on the events stream. */
export const EventMessage = z.object({
  v: z.literal(1),
  id: z.string().min(1).max(512),
  type: z.enum(WORKFLOW_EVENT_TYPES),
  workflowRunId: z.string().min(1),
  workflowId: z.string().min(1),
  stageId: z.string().min(1).optional(),
  /** ISO-8601 instant the event was recorded. */
  timestamp: z.string().datetime({ offset: true }),
  data: z.record(z.string(), z.unknown()),
});
/** A workflow event as published on the events stream. */
export type EventMessage = z.output<typeof EventMessage>;

/** Shape of an event inside a process; structurally the kernel's WorkflowEvent. */
export type EventValue = Omit<EventMessage, "v">;

/** EventValue → validated wire body. @throws ProtocolError naming the bad field. */
export function toEventMessage(event: EventValue): EventMessage {
  const r = EventMessage.safeParse({ v: 1, ...event });
  if (!r.success) throw zodToProtocolError(`event ${event.id}`, r.error);
  return r.data;
}

/** Serialises an event for publishing. */
export function encodeEvent(event: EventValue): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(toEventMessage(event)));
}

/** Parses an event body (bytes, text or parsed JSON); never throws. */
export function parseEvent(body: Uint8Array | string | unknown): ParseResult<EventValue> {
  const json = parseJsonBody(body, "event message");
  if (!json.ok) return json;
  const r = EventMessage.safeParse(json.value);
  if (!r.success) return { ok: false, error: zodToProtocolError("event message", r.error) };
  const { v: _v, ...rest } = r.data;
  return { ok: true, value: rest };
}

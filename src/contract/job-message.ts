/**
 * Body of a job message on `<prefix>.jobs.*` (JSON, UTF-8). Mirrors the kernel's `JobSpec` with
 * dates as ISO-8601 strings. `v` is the body version; readers reject versions they do not know.
 */
import { z } from "zod";
import { type ParseResult, ProtocolError } from "./protocol-error.js";
import { formatIssues, issuesFromZod } from "./validation.js";

const isoDate = z.string().datetime({ offset: true });

/** Schema of a job message on the jobs stream. */
export const JobMessage = z.object({
  v: z.literal(1),
  /** `<runId>:<stageId>:<attempt>`; also the `Nats-Msg-Id`. */
  jobId: z.string().min(1).max(512),
  workflowRunId: z.string().min(1),
  workflowId: z.string().min(1),
  stageId: z.string().min(1),
  attempt: z.number().int().min(1),
  maxAttempts: z.number().int().min(1),
  priority: z.number().int(),
  /** Not to be run before this instant. */
  availableAt: isoDate.optional(),
  payload: z.record(z.string(), z.unknown()),
  /** W3C carrier (traceparent, tracestate, baggage) persisted with the job. */
  traceContext: z.record(z.string(), z.string()).optional(),
});
/** A job message on the jobs stream. */
export type JobMessage = z.output<typeof JobMessage>;

/** Shape a job has inside a process (dates as Date); structurally the kernel's JobSpec. */
export interface JobValue {
  jobId: string;
  workflowRunId: string;
  workflowId: string;
  stageId: string;
  attempt: number;
  maxAttempts: number;
  priority: number;
  availableAt?: Date;
  payload: Record<string, unknown>;
  traceContext?: Record<string, string>;
}

/** JobValue → validated wire body. @throws ProtocolError naming the bad field. */
export function toJobMessage(job: JobValue): JobMessage {
  const body = {
    v: 1 as const,
    jobId: job.jobId,
    workflowRunId: job.workflowRunId,
    workflowId: job.workflowId,
    stageId: job.stageId,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    priority: job.priority,
    ...(job.availableAt ? { availableAt: job.availableAt.toISOString() } : {}),
    payload: job.payload,
    ...(job.traceContext ? { traceContext: job.traceContext } : {}),
  };
  const r = JobMessage.safeParse(body);
  if (!r.success) throw zodToProtocolError(`job ${job.jobId}`, r.error);
  return r.data;
}

/** Encodes a job as the UTF-8 JSON body. */
export function encodeJob(job: JobValue): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(toJobMessage(job)));
}

/** Parses a job body (bytes, text or already-parsed JSON) into a JobValue; never throws. */
export function parseJob(body: Uint8Array | string | unknown): ParseResult<JobValue> {
  const json = parseJsonBody(body, "job message");
  if (!json.ok) return json;
  const r = JobMessage.safeParse(json.value);
  if (!r.success) return { ok: false, error: zodToProtocolError("job message", r.error) };
  const { v: _v, availableAt, ...rest } = r.data;
  return { ok: true, value: { ...rest, ...(availableAt ? { availableAt: new Date(availableAt) } : {}) } };
}

/** Decodes bytes/text as JSON; a syntax error names the body. */
export function parseJsonBody(body: Uint8Array | string | unknown, what: string): ParseResult<unknown> {
  if (!(body instanceof Uint8Array) && typeof body !== "string") return { ok: true, value: body };
  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return {
      ok: false,
      error: new ProtocolError(`${what} is not JSON: ${(err as Error).message}`, [{ path: "", message: "not valid JSON" }]),
    };
  }
}

/** A zod failure as a ProtocolError whose message names each failing field. */
export function zodToProtocolError(what: string, err: z.ZodError): ProtocolError {
  const issues = issuesFromZod(err);
  return new ProtocolError(formatIssues(what, issues), issues);
}

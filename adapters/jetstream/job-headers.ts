/**
 * NATS headers of a job message: the de-duplication id, jetflow's routing facts (so a message
 * can be inspected or dead-lettered without parsing its body) and W3C trace context.
 */
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import type { JobSpec } from "../../src/ports/job-transport.js";
import { Headers, Schemas, TRACE_HEADERS } from "../../src/contract/headers.js";

/** Headers for publishing `job` (everything except Nats-Msg-Id, which the publish option sets). */
export function jobHeaders(job: JobSpec): MsgHdrs {
  const h = natsHeaders();
  h.set(Headers.Schema, Schemas.Job);
  h.set(Headers.JobId, job.jobId);
  h.set(Headers.RunId, job.workflowRunId);
  h.set(Headers.WorkflowId, job.workflowId);
  h.set(Headers.StageId, job.stageId);
  h.set(Headers.Attempt, String(job.attempt));
  if (job.availableAt) h.set(Headers.AvailableAt, job.availableAt.toISOString());
  for (const name of TRACE_HEADERS) {
    const value = job.traceContext?.[name];
    if (value) h.set(name, value);
  }
  return h;
}

/**
 * The best JobSpec recoverable from headers alone, for dead-lettering a message whose body
 * is unreadable; null when even the job id is missing.
 */
export function jobFromHeaders(h: MsgHdrs | undefined, raw: Uint8Array): JobSpec | null {
  const jobId = h?.get(Headers.JobId);
  if (!h || !jobId) return null;
  return {
    jobId,
    workflowRunId: h.get(Headers.RunId),
    workflowId: h.get(Headers.WorkflowId),
    stageId: h.get(Headers.StageId),
    attempt: Number(h.get(Headers.Attempt)) || 1,
    maxAttempts: 1,
    priority: 0,
    payload: { unreadableBody: new TextDecoder().decode(raw).slice(0, 4096) },
  };
}

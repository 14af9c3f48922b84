/** Turns a stored task into the outcome stages and executors see (resolving outputs stored by reference). */
import type { ActivityTaskRecord } from "../ports/activity-task-store.js";
import type { BlobStore } from "../ports/blob-store.js";
import { JetflowError } from "../contract/errors.js";
import { ReportMessage } from "../contract/tasks.js";
import type { TaskOutcome, TaskOutcomeStatus } from "./types.js";

const STATUS: Record<ActivityTaskRecord["status"], TaskOutcomeStatus> = {
  PENDING: "pending",
  LEASED: "pending",
  COMPLETED: "completed",
  FAILED: "failed",
  CANCELLED: "cancelled",
};

export async function toOutcome(t: ActivityTaskRecord, blobStore: BlobStore | undefined): Promise<TaskOutcome> {
  const status = STATUS[t.status];
  // The raw report carries logs/annotations; it is absent when the broker failed the task itself.
  const parsed = t.report != null ? ReportMessage.safeParse(t.report) : null;
  // A late report refused for being stale may have been stored for audit: only the current attempt's counts.
  const raw = parsed?.success && parsed.data.attempt === t.attempt ? parsed.data : null;
  const out: TaskOutcome = {
    taskId: t.taskId,
    status,
    codeVersion: t.codeVersion,
    attempt: t.attempt,
    logs: raw?.logs ?? [],
    annotations: raw?.annotations ?? [],
    aiCalls: raw?.aiCalls ?? [],
    workerId: t.workerId,
  };
  if (raw?.metrics) out.metrics = raw.metrics;
  if (status === "failed" || status === "cancelled") out.error = t.error ?? (status === "cancelled" ? "task cancelled" : "task failed");
  if (status === "completed") {
    if (raw?.outputRef) out.output = await readOutputRef(t.taskId, raw.outputRef.key, blobStore);
    else out.output = t.output;
  }
  return out;
}

async function readOutputRef(taskId: string, key: string, blobStore: BlobStore | undefined): Promise<unknown> {
  if (!blobStore)
    throw new JetflowError(
      "UNAVAILABLE",
      `task "${taskId}" stored its output by reference (${key}); the broker needs a blobStore to read it`,
    );
  const bytes = await blobStore.get(key);
  if (!bytes) throw new JetflowError("INVALID_STATE", `task "${taskId}" output object ${key} is missing`);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (err) {
    throw new JetflowError("INVALID_STATE", `task "${taskId}" output object ${key} is not JSON: ${(err as Error).message}`);
  }
}

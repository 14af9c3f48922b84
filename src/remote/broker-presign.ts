/** Presigning for one attempt: lease check, key confinement, then the Presigner. */
import type { ActivityTaskStore } from "../ports/activity-task-store.js";
import type { BlobStore } from "../ports/blob-store.js";
import type { Clock } from "../ports/clock.js";
import type { Presigner } from "../ports/presigner.js";
import type { PresignReply, PresignRequest } from "../contract/tasks.js";
import { JetflowError } from "../contract/errors.js";
import { LeaseNotHeldError, TaskNotFoundError, UploadTooLargeError } from "./errors.js";
import { resolveScopedKey } from "./presign-scope.js";
import { multipartOp } from "./broker-multipart.js";

export interface PresignDeps {
  store: ActivityTaskStore;
  presigner: Presigner;
  clock: Clock;
  blobStore: BlobStore | undefined;
  expiresInSec: number;
  /** Upload limit of tasks that carry none (created before tasks recorded theirs). */
  defaultMaxUploadBytes: number;
  /** Most part URLs per reply (multipart and parts). */
  pageMaxParts: number;
  /** Secret of upload tickets (upload-ticket.ts); the same on every orchestrator serving a queue. */
  uploadTicketSecret: string;
}

/**
 * Signs `req` only for the attempt that holds the lease right now, and only for keys inside its
 * scope; a superseded attempt cannot write over its successor's artifacts. `viaQueue` is the
 * queue of the subject the request came through (the task's own, or the task is unknown).
 */
export async function presignForTask(deps: PresignDeps, req: PresignRequest, viaQueue?: string): Promise<PresignReply> {
  const task = await deps.store.getTask(req.taskId);
  // Through another queue's subject, the task does not exist.
  if (!task || (viaQueue !== undefined && viaQueue !== task.queue)) throw new TaskNotFoundError(req.taskId);
  const now = deps.clock.now();
  if (task.status !== "LEASED") throw new LeaseNotHeldError(req.taskId, req.attempt, `task is ${task.status}`);
  if (task.attempt !== req.attempt || task.leaseToken !== req.leaseToken) {
    throw new LeaseNotHeldError(req.taskId, req.attempt, `the lease belongs to attempt ${task.attempt}`);
  }
  if (task.leaseDeadline && task.leaseDeadline.getTime() < now.getTime()) {
    throw new LeaseNotHeldError(req.taskId, req.attempt, `the lease expired at ${task.leaseDeadline.toISOString()}`);
  }
  const key = resolveScopedKey({ workflowRunId: task.workflowRunId, stageId: task.stageId, attempt: req.attempt }, req.op, req.key);
  const expiresInSec = deps.expiresInSec;
  // Never trust the worker: whatever its SDK checked, the size is bounded here and signed into the URL.
  const maxUploadBytes = task.maxUploadBytes ?? deps.defaultMaxUploadBytes;
  const bounded = (size: number): number => {
    if (size > maxUploadBytes) throw new UploadTooLargeError(req.key, size, maxUploadBytes);
    return size;
  };
  switch (req.op) {
    case "get": {
      const u = await deps.presigner.presignGet(key, { expiresInSec });
      return { key, url: u.url, method: u.method, headers: u.headers, expiresAt: u.expiresAt.toISOString() };
    }
    case "put": {
      const size = bounded(req.size!);
      const u = await deps.presigner.presignPut(key, { size, expiresInSec, ...(req.contentType ? { contentType: req.contentType } : {}) });
      return { key, url: u.url, method: u.method, headers: u.headers, size, expiresAt: u.expiresAt.toISOString() };
    }
    case "multipart":
    case "parts":
    case "complete":
    case "abort":
      return multipartOp(deps, req, key, bounded, maxUploadBytes);
    case "list": {
      if (!deps.blobStore) throw new JetflowError("UNAVAILABLE", "listing artifacts needs a broker configured with a blobStore");
      return { key, keys: await deps.blobStore.list(key) };
    }
  }
}

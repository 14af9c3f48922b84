/** Presigning for one attempt: lease check, key confinement, then the Presigner. */
import type { ActivityTaskStore } from "../ports/activity-task-store.js";
import type { BlobStore } from "../ports/blob-store.js";
import type { Clock } from "../ports/clock.js";
import type { Presigner } from "../ports/presigner.js";
import type { PresignReply, PresignRequest } from "../contract/tasks.js";
import { JetflowError } from "../contract/errors.js";
import { LeaseNotHeldError, TaskNotFoundError } from "./errors.js";
import { resolveScopedKey } from "./presign-scope.js";

export interface PresignDeps {
  store: ActivityTaskStore;
  presigner: Presigner;
  clock: Clock;
  blobStore: BlobStore | undefined;
  expiresInSec: number;
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
  switch (req.op) {
    case "get": {
      const u = await deps.presigner.presignGet(key, { expiresInSec });
      return { key, url: u.url, method: u.method, headers: u.headers, expiresAt: u.expiresAt.toISOString() };
    }
    case "put": {
      const u = await deps.presigner.presignPut(key, { expiresInSec, ...(req.contentType ? { contentType: req.contentType } : {}) });
      return { key, url: u.url, method: u.method, headers: u.headers, expiresAt: u.expiresAt.toISOString() };
    }
    case "multipart": {
      const m = await deps.presigner.createMultipartUpload(key, {
        size: req.size ?? 0,
        expiresInSec,
        ...(req.partSize ? { partSize: req.partSize } : {}),
        ...(req.contentType ? { contentType: req.contentType } : {}),
      });
      return { key, uploadId: m.uploadId, partSize: m.partSize, parts: m.parts, expiresAt: m.expiresAt.toISOString() };
    }
    case "complete":
      await deps.presigner.completeMultipartUpload(key, req.uploadId!, req.parts!);
      return { key };
    case "abort":
      await deps.presigner.abortMultipartUpload(key, req.uploadId!);
      return { key };
    case "list": {
      if (!deps.blobStore) throw new JetflowError("UNAVAILABLE", "listing artifacts needs a broker configured with a blobStore");
      return { key, keys: await deps.blobStore.list(key) };
    }
  }
}

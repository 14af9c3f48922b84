/**
 * Confines worker-supplied artifact keys (confused-deputy protection): the broker signs with
 * orchestrator credentials, so a worker may only write under its own attempt's prefix
 * `runs/<runId>/<stageId>/<attempt>/` and only read inside its own run.
 */
import type { PresignRequest } from "../contract/tasks.js";
import { PresignRefusedError } from "./errors.js";
import { taskArtifactPrefix } from "./types.js";

/** The run and stage whose artifact prefix bounds a presign. */
export interface KeyScope {
  workflowRunId: string;
  stageId: string;
  attempt: number;
}

/** The prefix one attempt writes under. */
export function attemptPrefix(scope: KeyScope): string {
  return `${taskArtifactPrefix(scope.workflowRunId, scope.stageId)}${scope.attempt}/`;
}

const WRITE_OPS = new Set<PresignRequest["op"]>(["put", "multipart", "parts", "complete", "abort"]);

/**
 * Resolves a relative or absolute key for `op` to the absolute key the presigner may sign.
 * @throws PresignRefusedError for traversal, empty segments, control characters or keys outside the allowed prefix.
 */
export function resolveScopedKey(scope: KeyScope, op: PresignRequest["op"], key: string): string {
  const own = attemptPrefix(scope);
  const run = `runs/${scope.workflowRunId}/`;
  if (op === "list") {
    // Listing is always the stage's prefix (all attempts); the key is ignored unless it narrows it.
    const stagePrefix = taskArtifactPrefix(scope.workflowRunId, scope.stageId);
    if (key === "") return stagePrefix;
    const abs = key.startsWith("runs/") ? key : own + key;
    checkSegments(abs, key, stagePrefix);
    if (!abs.startsWith(stagePrefix)) throw new PresignRefusedError(key, "listing is limited to the stage's artifacts", stagePrefix);
    return abs;
  }
  const writing = WRITE_OPS.has(op);
  const allowed = writing ? own : run;
  if (key === "") throw new PresignRefusedError(key, "empty key", allowed);
  if (key.startsWith("/")) throw new PresignRefusedError(key, "absolute paths are not object keys", allowed);
  const abs = key.startsWith("runs/") ? key : own + key;
  checkSegments(abs, key, allowed);
  if (abs.endsWith("/")) throw new PresignRefusedError(key, "the key names a folder, not an object", allowed);
  if (!abs.startsWith(allowed) || abs === allowed) {
    throw new PresignRefusedError(
      key,
      writing ? "writes are confined to this attempt's prefix" : "reads are confined to this run",
      allowed,
    );
  }
  return abs;
}

function checkSegments(abs: string, key: string, allowed: string): void {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(key)) throw new PresignRefusedError(key, "control characters or backslashes", allowed);
  const segs = abs.split("/");
  // The trailing segment of a prefix may be empty; any other empty, "." or ".." segment is refused.
  if (segs.some((s, i) => s === ".." || s === "." || (s === "" && i !== segs.length - 1))) {
    throw new PresignRefusedError(key, "'..', '.' and empty path segments are refused", allowed);
  }
  if (abs.length > 1024) throw new PresignRefusedError(key, "key longer than 1024 bytes", allowed);
}

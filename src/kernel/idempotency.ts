import type { KernelDeps } from "./deps.js";
import { errorMessage } from "./deps.js";
import { IdempotencyInProgressError } from "../contract/errors.js";

/**
 * Runs `fn` once per (command, key): a repeated key replays the stored result through
 * `replay`; a key still held by another dispatch raises IdempotencyInProgressError; a
 * failure releases the key so the caller may try again.
 */
export async function withIdempotency<T>(
  deps: KernelDeps,
  command: string,
  key: string | undefined,
  fn: () => Promise<T>,
  replay: (stored: T) => T = (s) => s,
): Promise<T> {
  if (key === undefined) return fn();
  const now = deps.clock.now();
  const acquired = await deps.persistence.acquireIdempotencyKey(command, key, now, {
    staleBefore: new Date(now.getTime() - deps.options.idempotencyStaleMs),
  });
  if (acquired.kind === "completed") return replay(acquired.result as T);
  if (acquired.kind === "in_progress") throw new IdempotencyInProgressError(command, key);
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    try {
      await deps.persistence.releaseIdempotencyKey(command, key);
    } catch (releaseErr) {
      // The original error matters more; the stale key expires after idempotencyStaleMs.
      deps.logger.error({ command, key, err: errorMessage(releaseErr) }, "could not release idempotency key");
    }
    throw err;
  }
  await deps.persistence.completeIdempotencyKey(command, key, result, deps.clock.now());
  return result;
}

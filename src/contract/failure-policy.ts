/**
 * The failure policy both sides apply: which errors another attempt may fix, and how long to
 * wait before it. The kernel (local stages), the worker SDK (remote stages) and every retry
 * loop in the adapters use these functions, so a stage behaves the same wherever it runs.
 */
import type { RetryPolicy } from "./stage-types.js";

/** Retry policy a stage gets when it sets none: 3 attempts, 1 s doubling up to 60 s. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({ maxAttempts: 3, backoffMs: 1000, maxBackoffMs: 60_000 });

/**
 * Whether another attempt could succeed where this one failed. Not retryable: an error whose
 * `retryable` is `false` (`NonRetryableStageError`, the worker's final errors), a schema failure
 * (a `ZodError`, or any error with `code: "VALIDATION"`). An explicit `retryable: true` wins over
 * the code. Everything else is retryable (as in Temporal: unknown failures are retried).
 *
 * Duck-typed on `retryable`, `name` and `code` so that the answer survives an error crossing a
 * thread, a process or the wire, where `instanceof` would not.
 */
export function isRetryable(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return true;
  const e = err as { retryable?: unknown; name?: unknown; code?: unknown };
  if (typeof e.retryable === "boolean") return e.retryable;
  if (e.name === "ZodError" || e.code === "VALIDATION") return false;
  return true;
}

/** Exponential delay `baseMs * 2^(n-1)`, capped at `maxMs`; `n` is 1 for the first retry. */
export function backoffDelay(n: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(Math.max(n - 1, 0), 30);
  return Math.min(maxMs, baseMs * 2 ** exp);
}

/** Delay before the retry that follows failed attempt `attempt` (1-based) under a stage's policy. */
export function retryDelayMs(attempt: number, policy?: Partial<RetryPolicy>): number {
  return backoffDelay(
    attempt,
    policy?.backoffMs ?? DEFAULT_RETRY_POLICY.backoffMs,
    policy?.maxBackoffMs ?? DEFAULT_RETRY_POLICY.maxBackoffMs,
  );
}

/**
 * Backoff of a loop that keeps failing (a pull, a poll): `next()` gives the delay to wait,
 * doubling from `baseMs` to `maxMs`; `reset()` after a success.
 */
export class LoopBackoff {
  private failures = 0;
  constructor(
    private readonly baseMs = 100,
    private readonly maxMs = 5_000,
  ) {}
  next(): number {
    this.failures++;
    return backoffDelay(this.failures, this.baseMs, this.maxMs);
  }
  reset(): void {
    this.failures = 0;
  }
}

/**
 * Rate limits and concurrency keys of a stage (issue 18 item 3; docs/flow-control.md). A limit
 * is identified by `id` and shared by every stage naming the same id (a remote stage's default is
 * its queue, so all stages of a queue share it); its `key` function splits it per tenant (or any
 * other value of the run's input). The kernel enforces them where a stage attempt is admitted,
 * across every orchestrator sharing the database.
 */
import type { ValidationIssue } from "./validation.js";

/** Picks the limit key of a run: `(input) => input.tenantId`. `input` is the run's input. */
export type LimitKeyFn = (input: unknown) => string;

/** At most `maxConcurrent` attempts per key (and `queueMaxConcurrent` over all keys) hold a slot at once. */
export interface ConcurrencyLimit {
  /** Shared limit name. Default: `queue:<queue>` for a remote stage, `stage:<workflowId>/<stageId>` otherwise. */
  id?: string;
  /** The key the slots are counted per; default one key for everything. */
  key?: LimitKeyFn;
  /** Slots per key. Default: unlimited per key (only `queueMaxConcurrent` applies). */
  maxConcurrent?: number;
  /** Slots over all keys; free slots go to keys round-robin. Default: unlimited. */
  queueMaxConcurrent?: number;
}

/** A token bucket per key: `perSecond` admissions a second, bursts up to `burst`. */
export interface RateLimit {
  /** Shared limit name, as for {@link ConcurrencyLimit.id}. */
  id?: string;
  key?: LimitKeyFn;
  /** Tokens added per second (may be fractional: 0.5 = one every 2 s). */
  perSecond: number;
  /** Bucket size. Default 1 (no burst). */
  burst?: number;
}

/** The limits of a stage. */
export interface StageLimits {
  concurrency?: ConcurrencyLimit;
  rateLimit?: RateLimit;
}

/** One resolved limit check of one stage attempt (stored with a waiting stage, so any orchestrator can grant it). */
export interface LimitCheck {
  limitId: string;
  kind: "concurrency" | "rate";
  key: string;
  maxConcurrent?: number;
  queueMaxConcurrent?: number;
  perSecond?: number;
  burst?: number;
}

const positiveInt = (v: unknown) => v === undefined || (Number.isInteger(v) && (v as number) > 0);

/** Validation issues of `limits` (under `path`), empty when valid. */
export function stageLimitIssues(limits: StageLimits | undefined, path = "limits"): ValidationIssue[] {
  if (limits === undefined) return [];
  const issues: ValidationIssue[] = [];
  if (typeof limits !== "object" || limits === null) return [{ path, message: "must be an object" }];
  for (const k of Object.keys(limits)) {
    if (k !== "concurrency" && k !== "rateLimit") issues.push({ path: `${path}.${k}`, message: "unknown limit (concurrency, rateLimit)" });
  }
  const known = { concurrency: ["id", "key", "maxConcurrent", "queueMaxConcurrent"], rateLimit: ["id", "key", "perSecond", "burst"] };
  for (const [name, keys] of Object.entries(known)) {
    const given = (limits as Record<string, unknown>)[name];
    if (given === undefined) continue;
    if (typeof given !== "object" || given === null) {
      issues.push({ path: `${path}.${name}`, message: "must be an object" });
      return issues;
    }
    for (const k of Object.keys(given)) if (!keys.includes(k)) issues.push({ path: `${path}.${name}.${k}`, message: "unknown option" });
  }
  const c = limits.concurrency;
  if (c !== undefined) {
    if (c.key !== undefined && typeof c.key !== "function") issues.push({ path: `${path}.concurrency.key`, message: "must be a function" });
    if (!positiveInt(c.maxConcurrent)) issues.push({ path: `${path}.concurrency.maxConcurrent`, message: "must be an integer >= 1" });
    if (!positiveInt(c.queueMaxConcurrent))
      issues.push({ path: `${path}.concurrency.queueMaxConcurrent`, message: "must be an integer >= 1" });
    if (c.maxConcurrent === undefined && c.queueMaxConcurrent === undefined)
      issues.push({ path: `${path}.concurrency`, message: "needs maxConcurrent or queueMaxConcurrent" });
    if (c.id !== undefined && (typeof c.id !== "string" || c.id === ""))
      issues.push({ path: `${path}.concurrency.id`, message: "must be a non-empty string" });
  }
  const r = limits.rateLimit;
  if (r !== undefined) {
    if (r.key !== undefined && typeof r.key !== "function") issues.push({ path: `${path}.rateLimit.key`, message: "must be a function" });
    if (!(typeof r.perSecond === "number" && r.perSecond > 0 && Number.isFinite(r.perSecond)))
      issues.push({ path: `${path}.rateLimit.perSecond`, message: "must be a positive number" });
    if (!positiveInt(r.burst)) issues.push({ path: `${path}.rateLimit.burst`, message: "must be an integer >= 1" });
    if (r.id !== undefined && (typeof r.id !== "string" || r.id === ""))
      issues.push({ path: `${path}.rateLimit.id`, message: "must be a non-empty string" });
  }
  return issues;
}

/** The key a limit gives `input`; a key function that throws or returns a non-string is reported by the caller. */
function keyOf(fn: LimitKeyFn | undefined, input: unknown): string {
  if (!fn) return "*";
  const k = fn(input);
  if (typeof k !== "string" || k === "") throw new TypeError(`limit key function returned ${JSON.stringify(k)}, not a non-empty string`);
  return k;
}

/** The checks a stage attempt of a run with `input` must pass; `defaultId` names limits without an `id`. */
export function resolveLimitChecks(limits: StageLimits | undefined, defaultId: string, input: unknown): LimitCheck[] {
  const out: LimitCheck[] = [];
  const c = limits?.concurrency;
  if (c) {
    out.push({
      limitId: `${c.id ?? defaultId}#concurrency`,
      kind: "concurrency",
      key: keyOf(c.key, input),
      ...(c.maxConcurrent !== undefined ? { maxConcurrent: c.maxConcurrent } : {}),
      ...(c.queueMaxConcurrent !== undefined ? { queueMaxConcurrent: c.queueMaxConcurrent } : {}),
    });
  }
  const r = limits?.rateLimit;
  if (r)
    out.push({ limitId: `${r.id ?? defaultId}#rate`, kind: "rate", key: keyOf(r.key, input), perSecond: r.perSecond, burst: r.burst ?? 1 });
  return out;
}

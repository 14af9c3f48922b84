import { ValidationError } from "../contract/errors.js";
import type { TypedKey } from "../contract/stage-types.js";

/** Annotation keys: dotted lower-case segments, e.g. "decision.outcome", "acme.compliance.signoff". */
export const ANNOTATION_KEY_PATTERN = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

/**
 * Declares an annotation key whose value type is fixed, so `ctx.annotate(Decision.confidence, 0.4)`
 * type-checks the value. The key is plain text at runtime; throws on a malformed key.
 */
export function typedKey<T>(key: string): TypedKey<T> {
  if (typeof key !== "string" || !ANNOTATION_KEY_PATTERN.test(key)) {
    throw new ValidationError(`invalid annotation key ${JSON.stringify(key)}`, [
      { path: "key", message: "must be dotted lower-case segments of letters, digits, '_' or '-'" },
    ]);
  }
  return Object.freeze({ key });
}

/** Why and by whom a run was started (attach at `run.create`). */
export const Trigger = Object.freeze({
  /** Where the run came from: "webhook:zendesk", "cron:nightly", "cli", "api". */
  source: typedKey<string>("trigger.source"),
  /** The run that spawned this one, when it was started by another run. */
  parentRunId: typedKey<string>("trigger.parent_run_id"),
  /** External correlation id (ticket, request, message id). */
  correlationId: typedKey<string>("trigger.correlation_id"),
  /** Who asked for the run (user id or service name). */
  requestedBy: typedKey<string>("trigger.requested_by"),
});

/** What a stage decided and how sure it was. */
export const Decision = Object.freeze({
  outcome: typedKey<string>("decision.outcome"),
  /** 0..1. */
  confidence: typedKey<number>("decision.confidence"),
  rationale: typedKey<string>("decision.rationale"),
  /** True when a fallback path (default rule, cheaper model) produced the decision. */
  usedFallback: typedKey<boolean>("decision.used_fallback"),
  /** Model or rule set that decided, e.g. "triage-v3". */
  model: typedKey<string>("decision.model"),
});

/** Status of a human or policy approval. */
export type ApprovalStatus = "pending" | "approved" | "rejected";

/** Human (or policy) sign-off on a run or stage. */
export const Approval = Object.freeze({
  status: typedKey<ApprovalStatus>("approval.status"),
  approvedBy: typedKey<string>("approval.approved_by"),
  /** ISO-8601 instant of the decision. */
  approvedAt: typedKey<string>("approval.approved_at"),
  comment: typedKey<string>("approval.comment"),
});

/** Why a run is a revision (rerun, correction) of another one. */
export const Revision = Object.freeze({
  reason: typedKey<string>("revision.reason"),
  parentRunId: typedKey<string>("revision.parent_run_id"),
  /** Stage the revision restarted from (`run.rerunFrom`). */
  fromStageId: typedKey<string>("revision.from_stage_id"),
  requestedBy: typedKey<string>("revision.requested_by"),
});

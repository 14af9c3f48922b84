/**
 * Admission of a stage attempt under its rate limits and concurrency keys (docs/flow-control.md).
 * Runs inside the transaction that starts the attempt (or grants a parked one): the (limit, key)
 * rows are locked first, so every orchestrator sharing the database sees the same counts and
 * tokens, and the slot commits or rolls back with the attempt.
 */
import type { LimitCheck } from "../../contract/stage-limits.js";
import type { LimitKeyState, WaitReason } from "../../ports/limits.js";
import type { PersistenceTx } from "../../ports/persistence.js";

/** Whether an attempt may start, and if not why and when to look again. */
export type Admission = { admitted: true } | { admitted: false; reason: WaitReason; detail: string; retryAt: Date | null };

/** The stage attempt asking. */
export interface Applicant {
  runId: string;
  stageId: string;
  attempt: number;
}

/** Every (limit, key) row `checks` touch, including a limit's total row (key "") when it has a total. */
export function lockKeysOf(checks: LimitCheck[]): { limitId: string; key: string }[] {
  const out: { limitId: string; key: string }[] = [];
  for (const c of checks) {
    out.push({ limitId: c.limitId, key: c.key });
    if (c.queueMaxConcurrent !== undefined) out.push({ limitId: c.limitId, key: "" });
  }
  return out;
}

const stateKey = (limitId: string, key: string) => `${limitId}\u0000${key}`;

/** Token bucket level at `now` (a bucket never used is full). */
function refill(s: LimitKeyState, c: LimitCheck, now: Date): number {
  const burst = c.burst ?? 1;
  if (s.tokens === null || s.refilledAt === null) return burst;
  const elapsed = Math.max(0, now.getTime() - s.refilledAt.getTime()) / 1000;
  return Math.min(burst, s.tokens + elapsed * (c.perSecond ?? 1));
}

/**
 * Decides `who`'s admission under `checks` and, when admitted, takes its slots and tokens.
 * `granting`: called by the grant pass, which orders applicants fairly itself; otherwise an
 * applicant not already granted queues behind stages parked under the same key (or, for a limit
 * with a total, under any key), so a newcomer never overtakes the round robin.
 */
export async function admit(
  tx: PersistenceTx,
  checks: LimitCheck[],
  who: Applicant,
  now: Date,
  grantTtlMs: number,
  granting = false,
): Promise<Admission> {
  if (checks.length === 0) return { admitted: true };
  const locked = await tx.lockLimitKeys(lockKeysOf(checks));
  const states = new Map(locked.map((s) => [stateKey(s.limitId, s.key), s]));
  const grantedAfter = new Date(now.getTime() - grantTtlMs);
  const except = { exceptRunId: who.runId, exceptStageId: who.stageId, grantedAfter };
  const preGranted = new Set<string>();
  for (const c of checks) {
    const slot = await tx.getSlot(c.limitId, who.runId, who.stageId);
    if (slot && slot.attempt === who.attempt && slot.grantedAt > grantedAfter) preGranted.add(c.limitId);
  }
  for (const c of checks) {
    if (granting || preGranted.has(c.limitId)) continue;
    const shared = c.queueMaxConcurrent !== undefined;
    const ahead = (await tx.listWaiters({ limitId: c.limitId, ...(shared ? {} : { key: c.key }), limit: 2 })).filter(
      (w) => !(w.runId === who.runId && w.stageId === who.stageId),
    );
    if (ahead.length > 0) {
      const whose = shared ? `limit "${c.limitId}"` : `key "${c.key}" of limit "${c.limitId}"`;
      return { admitted: false, reason: "fair-share", detail: `queued behind stages already waiting for ${whose}`, retryAt: null };
    }
  }
  const tokens = new Map<string, number>();
  for (const c of checks) {
    const s = states.get(stateKey(c.limitId, c.key))!;
    if (c.kind === "concurrency") {
      if (c.maxConcurrent !== undefined) {
        const n = await tx.countLiveSlots({ limitId: c.limitId, key: c.key, ...except });
        if (n >= c.maxConcurrent) {
          const detail = `concurrency key "${c.key}" of "${c.limitId}" full: ${n}/${c.maxConcurrent} running`;
          return { admitted: false, reason: "concurrency", detail, retryAt: null };
        }
      }
      if (c.queueMaxConcurrent !== undefined) {
        const n = await tx.countLiveSlots({ limitId: c.limitId, ...except });
        if (n >= c.queueMaxConcurrent) {
          const detail = `limit "${c.limitId}" full: ${n}/${c.queueMaxConcurrent} running over all keys`;
          return { admitted: false, reason: "queue-concurrency", detail, retryAt: null };
        }
      }
    } else if (!preGranted.has(c.limitId)) {
      const level = refill(s, c, now);
      if (level < 1) {
        const retryAt = new Date(now.getTime() + Math.ceil(((1 - level) / (c.perSecond ?? 1)) * 1000));
        const detail = `rate limit "${c.limitId}" key "${c.key}" (${c.perSecond}/s) until ${retryAt.toISOString()}`;
        return { admitted: false, reason: "rate-limited", detail, retryAt };
      }
      tokens.set(c.limitId, level - 1);
    }
  }
  for (const c of checks) {
    const s = states.get(stateKey(c.limitId, c.key))!;
    const level = tokens.get(c.limitId);
    await tx.saveLimitKey({ ...s, lastAdmittedAt: now, ...(level !== undefined ? { tokens: level, refilledAt: now } : {}) });
    if (!preGranted.has(c.limitId)) {
      await tx.putSlot({ limitId: c.limitId, key: c.key, runId: who.runId, stageId: who.stageId, attempt: who.attempt, grantedAt: now });
    }
  }
  return { admitted: true };
}

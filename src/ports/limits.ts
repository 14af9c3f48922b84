/**
 * What the Persistence port stores for rate limits and concurrency keys (docs/flow-control.md):
 * one state row per (limit, key) that admissions lock, one slot per admitted stage, one waiter
 * per parked stage. The admission decisions themselves are the kernel's (src/kernel/limits).
 */
import type { LimitCheck } from "../contract/stage-limits.js";

/** Why a stage waits for admission. */
export type WaitReason = "concurrency" | "queue-concurrency" | "rate-limited" | "fair-share";

/** The lockable state of one key of one limit (key "" is the limit's total). */
export interface LimitKeyState {
  limitId: string;
  key: string;
  /** Token bucket level (rate limits); null until first used. */
  tokens: number | null;
  refilledAt: Date | null;
  /** When the key last had an attempt admitted: the round-robin order between keys. */
  lastAdmittedAt: Date | null;
}

/**
 * A stage's slot in a limit. It is held while the stage is RUNNING or SUSPENDED at `attempt`, or
 * PENDING one attempt behind and granted within the grant TTL (granted, its job on the way): it
 * frees itself on every path that moves the stage on (complete, fail, cancel, retry, reap).
 */
export interface LimitSlot {
  limitId: string;
  key: string;
  runId: string;
  stageId: string;
  attempt: number;
  grantedAt: Date;
}

/** A stage parked until a limit admits it. */
export interface StageWaiter {
  runId: string;
  workflowId: string;
  stageId: string;
  /** The attempt it waits to start. */
  attempt: number;
  /** The limit and key it queues under (its first check): the round-robin grouping. */
  limitId: string;
  key: string;
  checks: LimitCheck[];
  reason: WaitReason;
  /** Human-readable reason: `concurrency key "a" full: 2/2 running`. */
  detail: string;
  /** Earliest instant worth re-checking (a rate limit's next token); null: when a slot frees. */
  retryAt: Date | null;
  /** Times parked: makes the id of the job re-queued on grant unique (transports de-duplicate job ids). */
  parks: number;
  createdAt: Date;
  updatedAt: Date;
}

/** Filter of {@link LimitsTx.countLiveSlots}. */
export interface LiveSlotQuery {
  limitId: string;
  /** Only this key; omitted: every key. */
  key?: string;
  /** The stage asking: its own slot is not counted. */
  exceptRunId: string;
  exceptStageId: string;
  /** A PENDING stage's slot counts only if granted after this instant. */
  grantedAfter: Date;
}

/** Filter and order of {@link LimitsTx.listWaiters}. */
export interface WaiterQuery {
  limitId?: string;
  key?: string;
  runId?: string;
  limit: number;
  /**
   * In turns instead of oldest first: the oldest waiter of every key (keys ordered by that
   * waiter's age), then the second oldest of every key, and so on. With a bounded `limit` a key
   * parked behind another key's deep backlog is still read (as long as fewer than `limit` keys
   * wait), so the grant pass's round robin reaches it.
   */
  byTurns?: boolean;
}

/** Storage of limit state; every method runs in the caller's transaction. */
export interface LimitsTx {
  /** Creates missing (limitId, key) rows and locks them all (in a fixed order) until the transaction ends. */
  lockLimitKeys(keys: { limitId: string; key: string }[]): Promise<LimitKeyState[]>;
  saveLimitKey(state: LimitKeyState): Promise<void>;
  /** Slots of the limit (and key) still held, see {@link LimitSlot}. */
  countLiveSlots(q: LiveSlotQuery): Promise<number>;
  getSlot(limitId: string, runId: string, stageId: string): Promise<LimitSlot | null>;
  /** Inserts or replaces the stage's slot in `slot.limitId`. */
  putSlot(slot: LimitSlot): Promise<void>;
  /** Inserts or replaces the stage's waiter. */
  putWaiter(w: StageWaiter): Promise<void>;
  getWaiter(runId: string, stageId: string): Promise<StageWaiter | null>;
  deleteWaiter(runId: string, stageId: string): Promise<void>;
  /** Waiters (of one limit, key or run), oldest first; see {@link WaiterQuery.byTurns}. */
  listWaiters(q: WaiterQuery): Promise<StageWaiter[]>;
  /** Distinct limits that have waiters, at most `limit`. */
  waitingLimitIds(limit: number): Promise<string[]>;
  /** Deletes slots no longer held (the stage moved on) and waiters whose stage is no longer PENDING; returns how many rows. */
  pruneLimits(now: Date, grantedAfter: Date, limit: number): Promise<number>;
}

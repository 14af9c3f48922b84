import type { LimitKeyState, LimitSlot, LiveSlotQuery, StageWaiter, WaiterQuery } from "../../ports/limits.js";
import type { StageRecord } from "../../ports/records.js";
import { deepCopy } from "../clone.js";
import { type MemoryState, pairKey } from "./state.js";

// Limit tables of the in-memory Persistence (rate limits, concurrency keys). The mutex makes
// every transaction serialisable, so "locking" a key row only needs to create it.

const slotKey = (limitId: string, runId: string, stageId: string) => `${limitId}\u0000${runId}\u0000${stageId}`;

export function lockLimitKeys(s: MemoryState, keys: { limitId: string; key: string }[]): LimitKeyState[] {
  return keys.map(({ limitId, key }) => {
    const k = pairKey(limitId, key);
    let row = s.limitKeys.get(k);
    if (!row) {
      row = { limitId, key, tokens: null, refilledAt: null, lastAdmittedAt: null };
      s.limitKeys.set(k, row);
    }
    return deepCopy(row);
  });
}

export function saveLimitKey(s: MemoryState, state: LimitKeyState): void {
  s.limitKeys.set(pairKey(state.limitId, state.key), deepCopy(state));
}

/** The rule of `LimitSlot`: held while its stage runs at its attempt, or is PENDING one behind and freshly granted. */
export function slotHeld(slot: LimitSlot, stage: StageRecord | undefined, grantedAfter: Date): boolean {
  if (!stage) return false;
  if (stage.status === "RUNNING" || stage.status === "SUSPENDED") return stage.attempt === slot.attempt;
  return stage.status === "PENDING" && stage.attempt === slot.attempt - 1 && slot.grantedAt > grantedAfter;
}

export function countLiveSlots(s: MemoryState, q: LiveSlotQuery): number {
  let n = 0;
  for (const slot of s.slots.values()) {
    if (slot.limitId !== q.limitId || (q.key !== undefined && slot.key !== q.key)) continue;
    if (slot.runId === q.exceptRunId && slot.stageId === q.exceptStageId) continue;
    if (slotHeld(slot, s.stages.get(pairKey(slot.runId, slot.stageId)), q.grantedAfter)) n++;
  }
  return n;
}

export function getSlot(s: MemoryState, limitId: string, runId: string, stageId: string): LimitSlot | null {
  const slot = s.slots.get(slotKey(limitId, runId, stageId));
  return slot ? deepCopy(slot) : null;
}

export function putSlot(s: MemoryState, slot: LimitSlot): void {
  s.slots.set(slotKey(slot.limitId, slot.runId, slot.stageId), deepCopy(slot));
}

export function putWaiter(s: MemoryState, w: StageWaiter): void {
  s.waiters.set(pairKey(w.runId, w.stageId), deepCopy(w));
}

export function getWaiter(s: MemoryState, runId: string, stageId: string): StageWaiter | null {
  const w = s.waiters.get(pairKey(runId, stageId));
  return w ? deepCopy(w) : null;
}

export function deleteWaiter(s: MemoryState, runId: string, stageId: string): void {
  s.waiters.delete(pairKey(runId, stageId));
}

export function listWaiters(s: MemoryState, q: WaiterQuery): StageWaiter[] {
  const oldestFirst = [...s.waiters.values()]
    .filter((w) => (q.limitId === undefined || w.limitId === q.limitId) && (q.key === undefined || w.key === q.key))
    .filter((w) => q.runId === undefined || w.runId === q.runId)
    .sort(byAge);
  if (!q.byTurns) return oldestFirst.slice(0, q.limit).map(deepCopy);
  // Turn n holds each key's n-th oldest waiter; turns in order, each oldest first.
  const seen = new Map<string, number>();
  const turns = oldestFirst.map((w) => {
    const k = pairKey(w.limitId, w.key);
    const turn = (seen.get(k) ?? 0) + 1;
    seen.set(k, turn);
    return { w, turn };
  });
  turns.sort((a, b) => a.turn - b.turn || byAge(a.w, b.w));
  return turns.slice(0, q.limit).map(({ w }) => deepCopy(w));
}

/** Oldest first; ties by run and stage id in code-unit order. */
function byAge(a: StageWaiter, b: StageWaiter): number {
  return a.createdAt.getTime() - b.createdAt.getTime() || cmp(a.runId, b.runId) || cmp(a.stageId, b.stageId);
}
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function waitingLimitIds(s: MemoryState, limit: number): string[] {
  return [...new Set([...s.waiters.values()].map((w) => w.limitId))].sort().slice(0, limit);
}

export function pruneLimits(s: MemoryState, grantedAfter: Date, limit: number): number {
  let n = 0;
  for (const [k, slot] of s.slots) {
    if (n >= limit) break;
    const stage = s.stages.get(pairKey(slot.runId, slot.stageId));
    if (!slotHeld(slot, stage, grantedAfter)) {
      s.slots.delete(k);
      n++;
    }
  }
  for (const [k, w] of s.waiters) {
    if (n >= limit) break;
    if (s.stages.get(pairKey(w.runId, w.stageId))?.status !== "PENDING") {
      s.waiters.delete(k);
      n++;
    }
  }
  return n;
}

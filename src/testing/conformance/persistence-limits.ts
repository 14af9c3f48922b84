import { deepStrictEqual as eq, equal } from "node:assert/strict";
import type { LimitCheck } from "../../contract/stage-limits.js";
import type { StageWaiter } from "../../ports/limits.js";
import type { Persistence, PersistenceTx } from "../../ports/persistence.js";
import type { StageStatus } from "../../ports/records.js";
import { type ConformanceCase, at, defineCases } from "./case.js";
import { type PersistenceUnderTest, newRun, newStage } from "./persistence-fixtures.js";

/** The concurrency limit most cases use (a remote queue's default name). */
export const CONC = "queue:render#concurrency";
/** The rate limit most cases use. */
export const RATE = "queue:render#rate";

export const conc = (key: string, o: { maxConcurrent?: number; queueMaxConcurrent?: number }, limitId = CONC): LimitCheck => ({
  limitId,
  kind: "concurrency",
  key,
  ...o,
});
export const rate = (key: string, perSecond: number, burst: number, limitId = RATE): LimitCheck => ({
  limitId,
  kind: "rate",
  key,
  perSecond,
  burst,
});

/** A RUNNING run with one PENDING stage "work" at attempt 0: what a limit admits. */
export async function limitedStage(p: PersistenceTx, ms = 0): Promise<{ runId: string; stageId: string }> {
  const run = newRun({ now: at(ms) });
  await p.createRun(run);
  await p.updateRun(run.id, { status: "RUNNING", startedAt: at(ms), currentGroupIndex: 0 }, at(ms));
  await p.upsertStage(newStage(run.id, "work", { now: at(ms) }));
  return { runId: run.id, stageId: "work" };
}

/** Moves the stage to `status` at `attempt`. */
export async function moveStage(
  p: PersistenceTx,
  s: { runId: string; stageId: string },
  status: StageStatus,
  attempt: number,
): Promise<void> {
  await p.updateStage(s.runId, s.stageId, { status, attempt }, at(1));
}

export function waiter(s: { runId: string; stageId: string }, check: LimitCheck, ms: number, over: Partial<StageWaiter> = {}): StageWaiter {
  return {
    runId: s.runId,
    workflowId: "wf-conformance",
    stageId: s.stageId,
    attempt: 1,
    limitId: check.limitId,
    key: check.key,
    checks: [check],
    reason: "concurrency",
    detail: `concurrency key "${check.key}" full`,
    retryAt: null,
    parks: 1,
    createdAt: at(ms),
    updatedAt: at(ms),
    ...over,
  };
}

const live = (p: Persistence, key: string | undefined, grantedAfterMs: number, limitId = CONC) =>
  p.countLiveSlots({
    limitId,
    ...(key !== undefined ? { key } : {}),
    exceptRunId: "none",
    exceptStageId: "none",
    grantedAfter: at(grantedAfterMs),
  });

/**
 * The storage of rate limits and concurrency keys (src/ports/limits.ts): key rows and their lock,
 * the slot rule, waiters and pruning. The admission decisions over them: persistence-limits-admission.ts.
 */
export function persistenceLimitCases(factory: () => Promise<PersistenceUnderTest>): ConformanceCase[] {
  return defineCases("persistence limits", factory, {
    "lockLimitKeys creates each (limit, key) row once; saveLimitKey round-trips its state": async ({ persistence: p }) => {
      const asked = [
        { limitId: RATE, key: "b" },
        { limitId: CONC, key: "" },
        { limitId: RATE, key: "a" },
        { limitId: RATE, key: "b" },
      ];
      const fresh = await p.transaction((tx) => tx.lockLimitKeys(asked));
      // One state per asked key, in the asked order (duplicates included), all unused.
      eq(
        fresh,
        asked.map((k) => ({ ...k, tokens: null, refilledAt: null, lastAdmittedAt: null })),
      );
      const saved = { limitId: RATE, key: "a", tokens: 1.375, refilledAt: at(1_234), lastAdmittedAt: at(1_001) };
      await p.transaction((tx) => tx.saveLimitKey(saved));
      eq(await p.transaction((tx) => tx.lockLimitKeys([{ limitId: RATE, key: "a" }])), [saved]);
      eq(await p.transaction((tx) => tx.lockLimitKeys([{ limitId: RATE, key: "b" }])), [
        { limitId: RATE, key: "b", tokens: null, refilledAt: null, lastAdmittedAt: null },
      ]);
      eq(await p.lockLimitKeys([]), []);
    },

    "lockLimitKeys holds the rows until commit: concurrent read-modify-writes of a key lose no update": async ({ persistence: p }) => {
      // The kernel reads a bucket, computes and saves it back; only the row lock makes that safe.
      const bump = () =>
        p.transaction(async (tx) => {
          const [s] = await tx.lockLimitKeys([
            { limitId: RATE, key: "k" },
            { limitId: CONC, key: "" },
          ]);
          await tx.saveLimitKey({ ...s!, tokens: (s!.tokens ?? 0) + 1 });
        });
      await Promise.all(Array.from({ length: 12 }, bump));
      const [s] = await p.transaction((tx) => tx.lockLimitKeys([{ limitId: RATE, key: "k" }]));
      equal(s!.tokens, 12);
    },

    "a slot is held while its stage runs at the slot's attempt, or is PENDING one behind and granted recently": async ({
      persistence: p,
    }) => {
      const cases: [StageStatus, number, number, boolean][] = [
        // [stage status, stage attempt, slot granted at (ms), held with grantedAfter = 500?]
        ["RUNNING", 1, 0, true], // running: held however old the grant
        ["SUSPENDED", 1, 0, true], // a remote stage waiting for its task
        ["PENDING", 0, 600, true], // granted, its job on the way
        ["PENDING", 0, 400, false], // granted too long ago: the job never started
        ["PENDING", 1, 600, false], // retried: back to PENDING at the slot's attempt
        ["RUNNING", 2, 600, false], // a later attempt the slot was not granted for
        ["COMPLETED", 1, 600, false],
        ["FAILED", 1, 600, false],
        ["CANCELLED", 1, 600, false],
      ];
      const stages: { runId: string; stageId: string }[] = [];
      for (const [status, attempt, grantedMs] of cases) {
        const s = await limitedStage(p);
        await moveStage(p, s, status, attempt);
        await p.putSlot({ limitId: CONC, key: "a", ...s, attempt: 1, grantedAt: at(grantedMs) });
        stages.push(s);
      }
      // A slot whose stage row is gone is not held either.
      await p.putSlot({ limitId: CONC, key: "a", runId: "gone-run", stageId: "work", attempt: 1, grantedAt: at(600) });
      // Another key and another limit are counted apart.
      const other = await limitedStage(p);
      await moveStage(p, other, "RUNNING", 1);
      await p.putSlot({ limitId: CONC, key: "b", ...other, attempt: 1, grantedAt: at(0) });
      await p.putSlot({ limitId: "stage:wf/x#concurrency", key: "a", ...other, attempt: 1, grantedAt: at(0) });

      const held = cases.filter((c) => c[3]).length;
      equal(await live(p, "a", 500), held);
      equal(await live(p, undefined, 500), held + 1, "no key: every key of the limit");
      equal(await live(p, "b", 500), 1);
      equal(await live(p, "a", 500, "stage:wf/x#concurrency"), 1);
      // The asking stage's own slot is never counted against it.
      const first = stages[0]!;
      const q = { limitId: CONC, key: "a", exceptRunId: first.runId, exceptStageId: first.stageId, grantedAfter: at(500) };
      equal(await p.countLiveSlots(q), held - 1);
      // Inside a transaction the count sees the transaction's own writes.
      const n = await p.transaction(async (tx) => {
        await moveStage(tx, stages[0]!, "COMPLETED", 1);
        return tx.countLiveSlots({ ...q, exceptRunId: "none" });
      });
      equal(n, held - 1);
    },

    "putSlot replaces the stage's slot in that limit; getSlot reads it back": async ({ persistence: p }) => {
      const s = await limitedStage(p);
      equal(await p.getSlot(CONC, s.runId, s.stageId), null);
      await p.putSlot({ limitId: CONC, key: "a", ...s, attempt: 1, grantedAt: at(10) });
      await p.putSlot({ limitId: RATE, key: "r", ...s, attempt: 1, grantedAt: at(10) });
      await p.putSlot({ limitId: CONC, key: "b", ...s, attempt: 2, grantedAt: at(20) });
      eq(await p.getSlot(CONC, s.runId, s.stageId), { limitId: CONC, key: "b", ...s, attempt: 2, grantedAt: at(20) });
      eq(await p.getSlot(RATE, s.runId, s.stageId), { limitId: RATE, key: "r", ...s, attempt: 1, grantedAt: at(10) });
      await moveStage(p, s, "RUNNING", 2);
      equal(await live(p, "a", 0), 0, "the replaced slot is gone from key a");
      equal(await live(p, "b", 0), 1);
    },

    "waiters: putWaiter replaces, listWaiters filters oldest first, waitingLimitIds is distinct and sorted": async ({ persistence: p }) => {
      const s = await Promise.all([0, 1, 2, 3].map(() => limitedStage(p)));
      const w0 = waiter(s[0]!, conc("a", { maxConcurrent: 1 }), 30);
      const w1 = waiter(s[1]!, conc("b", { maxConcurrent: 1 }), 10);
      const w2 = waiter(s[2]!, conc("a", { maxConcurrent: 1 }), 20, { reason: "fair-share", detail: "behind" });
      const w3 = waiter(s[3]!, rate("a", 0.5, 2), 5, {
        reason: "rate-limited",
        retryAt: at(2_000),
        checks: [rate("a", 0.5, 2), conc("a", { maxConcurrent: 1, queueMaxConcurrent: 4 })],
      });
      for (const w of [w0, w1, w2, w3]) await p.putWaiter(w);
      eq(await p.getWaiter(s[3]!.runId, "work"), w3);
      eq(await p.listWaiters({ limitId: CONC, limit: 10 }), [w1, w2, w0]);
      eq(await p.listWaiters({ limitId: CONC, key: "a", limit: 10 }), [w2, w0]);
      eq(await p.listWaiters({ limitId: CONC, limit: 2 }), [w1, w2]);
      eq(await p.listWaiters({ runId: s[0]!.runId, limit: 10 }), [w0]);
      eq(await p.listWaiters({ limit: 10 }), [w3, w1, w2, w0]);
      eq(await p.waitingLimitIds(10), [CONC, RATE].sort());
      eq((await p.waitingLimitIds(1)).length, 1);

      // Parked again: the same row, updated (one waiter per stage).
      const again = { ...w0, parks: 2, reason: "queue-concurrency" as const, detail: "full over all keys", updatedAt: at(40) };
      await p.putWaiter(again);
      eq(await p.getWaiter(s[0]!.runId, "work"), again);
      equal((await p.listWaiters({ limitId: CONC, key: "a", limit: 10 })).length, 2);

      await p.deleteWaiter(s[3]!.runId, "work");
      equal(await p.getWaiter(s[3]!.runId, "work"), null);
      eq(await p.waitingLimitIds(10), [CONC]);
      await p.deleteWaiter(s[3]!.runId, "work"); // deleting twice is not an error
    },

    "listWaiters byTurns: each key's oldest first, then each key's second, so a bounded read holds every key": async ({
      persistence: p,
    }) => {
      const limitId = "stage:wf/turns#concurrency";
      const parked: StageWaiter[] = [];
      for (const [key, ms] of [
        ["a", 0],
        ["a", 1],
        ["a", 2],
        ["a", 3],
        ["b", 5],
        ["c", 6],
        ["b", 7],
      ] as const) {
        const w = waiter(await limitedStage(p), conc(key, { maxConcurrent: 1 }, limitId), ms);
        await p.putWaiter(w);
        parked.push(w);
      }
      const [a0, a1, a2, a3, b5, c6, b7] = parked;
      eq(await p.listWaiters({ limitId, limit: 10, byTurns: true }), [a0, b5, c6, a1, b7, a2, a3]);
      eq(await p.listWaiters({ limitId, limit: 3, byTurns: true }), [a0, b5, c6]);
      eq(await p.listWaiters({ limitId, limit: 3 }), [a0, a1, a2], "without turns: oldest first");
      eq(await p.listWaiters({ limitId, key: "b", limit: 10, byTurns: true }), [b5, b7]);
    },

    "pruneLimits deletes slots no longer held and waiters whose stage left PENDING, and nothing else": async ({ persistence: p }) => {
      const running = await limitedStage(p);
      await moveStage(p, running, "RUNNING", 1);
      const done = await limitedStage(p);
      await moveStage(p, done, "COMPLETED", 1);
      const granted = await limitedStage(p);
      const lapsed = await limitedStage(p);
      for (const [s, ms] of [
        [running, 0],
        [done, 0],
        [granted, 600],
        [lapsed, 400],
      ] as const) {
        await p.putSlot({ limitId: CONC, key: "a", ...s, attempt: 1, grantedAt: at(ms) });
      }
      const parked = await limitedStage(p);
      await p.putWaiter(waiter(parked, conc("a", { maxConcurrent: 1 }), 0));
      await p.putWaiter(waiter(done, conc("a", { maxConcurrent: 1 }), 0));

      equal(await p.pruneLimits(at(900), at(500), 100), 3, "done's and lapsed's slots, done's waiter");
      equal(await p.getSlot(CONC, done.runId, "work"), null);
      equal(await p.getSlot(CONC, lapsed.runId, "work"), null);
      equal((await p.getSlot(CONC, running.runId, "work"))?.attempt, 1);
      equal((await p.getSlot(CONC, granted.runId, "work"))?.attempt, 1);
      eq(
        (await p.listWaiters({ limit: 10 })).map((w) => w.runId),
        [parked.runId],
      );
      equal(await p.pruneLimits(at(900), at(500), 100), 0, "nothing left to prune");
    },
  });
}

import { randomUUID } from "node:crypto";
import { deepStrictEqual as eq, equal, ok } from "node:assert/strict";
import type { LimitCheck } from "../../contract/stage-limits.js";
import type { Persistence, PersistenceTx } from "../../ports/persistence.js";
import { type Admission, admit } from "../../kernel/limits/admit.js";
import { type GrantResult, grantWaiting } from "../../kernel/limits/grant.js";
import { OutboxBatch } from "../../kernel/outbox.js";
import { type ConformanceCase, at, defineCases } from "./case.js";
import type { PersistenceUnderTest } from "./persistence-fixtures.js";
import { CONC, conc, limitedStage, moveStage, rate, waiter } from "./persistence-limits.js";

type Who = { runId: string; stageId: string };
const TTL = 30_000;

/** Admits attempt 1 of `s` at `ms` and, when admitted, starts it (RUNNING) in the same transaction. */
function start(p: Persistence, s: Who, checks: LimitCheck[], ms: number): Promise<Admission> {
  return p.transaction(async (tx) => {
    const a = await admit(tx, checks, { ...s, attempt: 1 }, at(ms), TTL);
    if (a.admitted) await moveStage(tx, s, "RUNNING", 1);
    return a;
  });
}

/** Admits attempt 1 of `s` at `ms` without starting it: a grant whose job is on the way. */
const grant = (p: Persistence, s: Who, checks: LimitCheck[], ms: number) =>
  p.transaction((tx) => admit(tx, checks, { ...s, attempt: 1 }, at(ms), TTL));

const stages = (p: PersistenceTx, n: number) => Promise.all(Array.from({ length: n }, () => limitedStage(p)));
const admitted = (as: Admission[]) => as.filter((a) => a.admitted).length;

/** One grant pass at `ms`; returns the pass result and the runs it queued a job for, in grant order. */
async function grantPass(p: Persistence, ms: number, maxGrants = 100, maxWaitersPerLimit = 500): Promise<GrantResult & { runs: string[] }> {
  const batch = new OutboxBatch({ newId: () => randomUUID(), options: { outboxClaimMs: 30_000 } }, at(ms));
  const r = await p.transaction(async (tx) => {
    const res = await grantWaiting(tx, batch, at(ms), { maxLimits: 50, maxWaitersPerLimit, maxGrants, grantTtlMs: TTL });
    await batch.write(tx);
    return res;
  });
  return { ...r, runs: batch.rows.filter((row) => row.kind === "job").map((row) => row.workflowRunId!) };
}

/**
 * The kernel's admission and grant pass (src/kernel/limits) over the adapter: what the limit
 * storage must make true when several transactions (orchestrators) admit at once. Times come
 * from the caller (an injected clock), never from sleeps.
 */
export function persistenceLimitAdmissionCases(factory: () => Promise<PersistenceUnderTest>): ConformanceCase[] {
  return defineCases("persistence limits", factory, {
    "concurrent admissions never take more than maxConcurrent slots of a key": async ({ persistence: p }) => {
      const a = await stages(p, 12);
      const b = await stages(p, 4);
      const results = await Promise.all([
        ...a.map((s) => start(p, s, [conc("a", { maxConcurrent: 3 })], 0)),
        ...b.map((s) => start(p, s, [conc("b", { maxConcurrent: 3 })], 0)),
      ]);
      equal(admitted(results.slice(0, 12)), 3, "key a: 3 slots");
      equal(admitted(results.slice(12)), 3, "key b: its own 3 slots");
      const refused = results.find((r) => !r.admitted && r.detail.includes('"a"'));
      eq(refused, {
        admitted: false,
        reason: "concurrency",
        detail: `concurrency key "a" of "${CONC}" full: 3/3 running`,
        retryAt: null,
      });
    },

    "a slot frees when its stage completes, fails, is cancelled or goes back to PENDING for a retry": async ({ persistence: p }) => {
      const check = [conc("a", { maxConcurrent: 2 })];
      const [h1, h2, ...rest] = await stages(p, 7);
      ok((await start(p, h1!, check, 0)).admitted);
      ok((await start(p, h2!, check, 0)).admitted);
      const holders = [h1!, h2!];
      const moves = [
        ["COMPLETED", 1],
        ["FAILED", 1],
        ["CANCELLED", 1],
        ["PENDING", 1], // a retry: PENDING at the slot's attempt, its next attempt not admitted yet
      ] as const;
      for (const [i, [status, attempt]] of moves.entries()) {
        const next = rest[i]!;
        equal((await start(p, next, check, 10)).admitted, false, `full before the holder moves to ${status}`);
        await moveStage(p, holders.shift()!, status, attempt);
        ok((await start(p, next, check, 10)).admitted, `admitted once a holder is ${status}`);
        holders.push(next);
      }
      equal((await start(p, rest[4]!, check, 10)).admitted, false, "still at most 2");
    },

    "a grant holds its slot until its job starts it, or until the grant TTL lapses": async ({ persistence: p }) => {
      const check = [conc("a", { maxConcurrent: 1 })];
      const [granted, other, late] = await stages(p, 3);
      ok((await grant(p, granted!, check, 0)).admitted);
      equal((await start(p, other!, check, TTL - 1)).admitted, false, "the granted slot is held while its job is on the way");
      // The job arrives in time: the stage starts on its own grant (its own slot is not counted against it).
      ok((await start(p, granted!, check, 5)).admitted);
      equal((await start(p, other!, check, TTL + 10)).admitted, false, "running: held however old the grant");
      await moveStage(p, granted!, "COMPLETED", 1);

      // A grant whose job never comes (its orchestrator died) lapses after the TTL.
      ok((await grant(p, late!, check, 100)).admitted);
      equal((await start(p, other!, check, 100 + TTL - 1)).admitted, false);
      ok((await start(p, other!, check, 100 + TTL + 1)).admitted, "the lapsed grant no longer holds the slot");
      const tooLate = await start(p, late!, check, 100 + TTL + 2);
      equal(tooLate.admitted, false, "the late job is judged again, not on its lapsed grant");
    },

    "queueMaxConcurrent caps all keys of a limit together, also under concurrent admissions": async ({ persistence: p }) => {
      const keys = ["a", "b", "c"];
      const byKey = await Promise.all(keys.map(() => stages(p, 4)));
      const check = (k: string) => [conc(k, { maxConcurrent: 2, queueMaxConcurrent: 5 })];
      const results = await Promise.all(byKey.flatMap((ss, i) => ss.map((s) => start(p, s, check(keys[i]!), 0))));
      equal(admitted(results), 5, "5 over all keys");
      for (let i = 0; i < 3; i++) ok(admitted(results.slice(i * 4, i * 4 + 4)) <= 2, `key ${keys[i]}: at most 2`);
      ok(results.some((r) => !r.admitted && r.reason === "queue-concurrency"));
      const full = await start(p, (await limitedStage(p))!, check("d"), 1);
      eq(full, {
        admitted: false,
        reason: "queue-concurrency",
        detail: `limit "${CONC}" full: 5/5 running over all keys`,
        retryAt: null,
      });
      // One slot frees: exactly one more start fits, whichever key asks.
      const holder = byKey.flat().find((_, i) => results[i]!.admitted)!;
      await moveStage(p, holder, "COMPLETED", 1);
      const d = await stages(p, 2);
      ok((await start(p, d[0]!, check("d"), 2)).admitted);
      equal((await start(p, d[1]!, check("d"), 2)).admitted, false);
    },

    "a token bucket admits a burst, then perSecond, on the caller's clock": async ({ persistence: p }) => {
      const check = [rate("t", 2, 3)];
      const ss = await stages(p, 12);
      let i = 0;
      const next = (ms: number, c = check) => start(p, ss[i++]!, c, ms);
      for (let n = 0; n < 3; n++) ok((await next(0)).admitted, `burst token ${n + 1}`);
      const empty = await next(0);
      eq(empty, {
        admitted: false,
        reason: "rate-limited",
        detail: `rate limit "${check[0]!.limitId}" key "t" (2/s) until ${at(500).toISOString()}`,
        retryAt: at(500),
      });
      equal((await next(499)).admitted, false, "a token comes every 500 ms at 2/s");
      ok((await next(500)).admitted, "one token per 500 ms");
      const again = await next(500);
      equal(again.admitted ? null : again.retryAt?.getTime(), at(1_000).getTime());
      ok((await next(0, [rate("u", 2, 3)])).admitted, "another key has its own bucket");
      // Idle for 10 s: the bucket refills to its burst, no further.
      for (let n = 0; n < 3; n++) ok((await next(10_500)).admitted);
      equal((await next(10_500)).admitted, false);
      // Fractions: 0.5/s is a token every 2 s.
      const slow = [rate("slow", 0.5, 1)];
      const [s1, s2, s3] = await stages(p, 3);
      ok((await start(p, s1!, slow, 0)).admitted);
      equal((await start(p, s2!, slow, 1_999)).admitted, false);
      ok((await start(p, s3!, slow, 2_000)).admitted);
    },

    "concurrent admissions never spend more tokens than the bucket holds": async ({ persistence: p }) => {
      const ss = await stages(p, 10);
      const results = await Promise.all(ss.map((s) => start(p, s, [rate("t", 1, 4)], 0)));
      equal(admitted(results), 4);
    },

    "the grant pass serves parked keys round-robin; a newcomer queues behind parked work": async ({ persistence: p }) => {
      const check = (k: string) => conc(k, { queueMaxConcurrent: 2 });
      const parked: { key: string; s: Who }[] = [];
      const park = async (key: string, ms: number) => {
        const s = await limitedStage(p);
        await p.putWaiter(waiter(s, check(key), ms));
        parked.push({ key, s });
        return s;
      };
      const cancelled = await park("a", -1); // its stage moved on: dropped, never granted
      await moveStage(p, cancelled, "CANCELLED", 0);
      for (let n = 0; n < 6; n++) await park("a", n);
      for (let n = 0; n < 2; n++) await park("b", 10 + n);
      await park("c", 12);
      const keyOf = new Map(parked.map((x) => [x.s.runId, x.key]));

      const newcomer = await grant(p, await limitedStage(p), [check("z")], 50);
      equal(newcomer.admitted ? null : newcomer.reason, "fair-share", "a new key does not overtake parked work under a shared total");

      const order: string[] = [];
      for (let pass = 1; pass <= 6 && order.length < 9; pass++) {
        const r = await grantPass(p, pass * 100);
        ok(r.runs.length <= 2, "never more grants than free slots");
        order.push(...r.runs.map((id) => keyOf.get(id)!));
        // The granted stages run and finish before the next pass.
        for (const id of r.runs) await moveStage(p, { runId: id, stageId: "work" }, "COMPLETED", 1);
      }
      eq(order, ["a", "b", "c", "a", "b", "a", "a", "a", "a"]);
      equal(await p.getWaiter(cancelled.runId, "work"), null);
      eq(await p.listWaiters({ limit: 10 }), []);
    },

    "a key parked behind more waiters than a pass reads still gets its turn": async ({ persistence: p }) => {
      // A pass reads a bounded number of waiters; a tenant with a deep backlog must not hide others.
      const check = (k: string) => conc(k, { queueMaxConcurrent: 1 });
      const keyOf = new Map<string, string>();
      for (const [key, n, from] of [
        ["a", 8, 0],
        ["b", 2, 100],
      ] as const) {
        for (let i = 0; i < n; i++) {
          const s = await limitedStage(p);
          await p.putWaiter(waiter(s, check(key), from + i));
          keyOf.set(s.runId, key);
        }
      }
      const order: string[] = [];
      for (let pass = 1; pass <= 4; pass++) {
        const r = await grantPass(p, pass * 100, 100, 5);
        order.push(...r.runs.map((id) => keyOf.get(id)!));
        for (const id of r.runs) await moveStage(p, { runId: id, stageId: "work" }, "COMPLETED", 1);
      }
      eq(order, ["a", "b", "a", "b"]);
    },

    "concurrent grant passes and admissions never grant more than the free slots": async ({ persistence: p }) => {
      // Several orchestrators run a pass at once (a slot freed everywhere) while new stages start.
      const check = (k: string) => conc(k, { maxConcurrent: 2, queueMaxConcurrent: 3 });
      for (const [i, key] of ["a", "a", "a", "b", "b", "c", "c", "c"].entries())
        await p.putWaiter(waiter(await limitedStage(p), check(key), i));
      const newcomers = await stages(p, 4);
      const [passes, starts] = await Promise.all([
        Promise.all([100, 100, 101, 102].map((ms) => grantPass(p, ms))),
        Promise.all(newcomers.map((s, i) => start(p, s, [check(i % 2 ? "d" : "e")], 100))),
      ]);
      const granted = passes.flatMap((r) => r.runs);
      equal(new Set(granted).size, granted.length, "no stage granted twice");
      equal(granted.length + admitted(starts), 3, "3 slots over all keys, however the passes and starts interleave");
      equal(await p.countLiveSlots({ limitId: CONC, exceptRunId: "-", exceptStageId: "-", grantedAfter: at(100 - TTL) }), 3);
    },

    "a newcomer queues only behind its own key when the limit has no total": async ({ persistence: p }) => {
      const check = (k: string) => conc(k, { maxConcurrent: 1 }, "stage:wf/x#concurrency");
      const holder = await limitedStage(p);
      ok((await start(p, holder, [check("a")], 0)).admitted);
      await p.putWaiter(waiter(await limitedStage(p), check("a"), 1));
      await moveStage(p, holder, "COMPLETED", 1); // a slot is free, but a parked stage of key a is first in line
      const sameKey = await grant(p, await limitedStage(p), [check("a")], 2);
      equal(sameKey.admitted ? null : sameKey.reason, "fair-share");
      ok((await grant(p, await limitedStage(p), [check("z")], 2)).admitted, "another key is not held up");
    },

    "the grant pass grants rate-limited work at its next token, and says when that is": async ({ persistence: p }) => {
      const check = rate("t", 1, 1);
      const first = await limitedStage(p);
      ok((await start(p, first, [check], 0)).admitted);
      const parkedStage = await limitedStage(p);
      await p.putWaiter(waiter(parkedStage, check, 0, { reason: "rate-limited", retryAt: at(1_000) }));
      const early = await grantPass(p, 500);
      eq({ granted: early.granted, next: early.nextRetryAt?.getTime() }, { granted: 0, next: at(1_000).getTime() });
      equal((await p.getWaiter(parkedStage.runId, "work"))?.retryAt?.getTime(), at(1_000).getTime());
      const due = await grantPass(p, 1_000);
      eq(due.runs, [parkedStage.runId]);
    },
  });
}

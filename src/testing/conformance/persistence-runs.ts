import { randomUUID } from "node:crypto";
import { deepStrictEqual as eq, equal, ok, rejects } from "node:assert/strict";
import type { RunRecord } from "../../ports/records.js";
import { type ConformanceCase, T0, at, defineCases } from "./case.js";
import { type PersistenceUnderTest, RICH_JSON, newRun, newStage, sortedIds } from "./persistence-fixtures.js";

/** Runs, stages, guards, transactions and the concurrent claims of the Persistence port. */
export function persistenceRunCases(factory: () => Promise<PersistenceUnderTest>): ConformanceCase[] {
  return defineCases("persistence", factory, {
    "createRun/getRun round-trip every field exactly": async ({ persistence: p }) => {
      const n = newRun({
        input: RICH_JSON,
        config: { a: { x: [1, 2] }, b: {} },
        priority: 7,
        traceContext: { traceparent: "00-abc-def-01" },
      });
      const expected: RunRecord = {
        id: n.id,
        workflowId: n.workflowId,
        status: "PENDING",
        input: RICH_JSON,
        config: { a: { x: [1, 2] }, b: {} },
        output: null,
        error: null,
        currentGroupIndex: -1,
        priority: 7,
        claimedBy: null,
        traceContext: { traceparent: "00-abc-def-01" },
        createdAt: T0,
        updatedAt: T0,
        startedAt: null,
        completedAt: null,
        lastActivityAt: T0,
      };
      eq(await p.createRun(n), expected);
      eq(await p.getRun(n.id), expected);
      equal(await p.getRun("00000000-0000-4000-8000-000000000000"), null);
    },

    "stored values are isolated from the caller's objects": async ({ persistence: p }) => {
      const input = { list: [1, 2], inner: { v: "a" } };
      const n = newRun({ input });
      const created = await p.createRun(n);
      input.list.push(3);
      (created.input as typeof input).inner.v = "mutated";
      created.createdAt.setTime(0);
      const again = await p.getRun(n.id);
      eq(again?.input, { list: [1, 2], inner: { v: "a" } });
      eq(again?.createdAt, T0);
    },

    "updateRun applies the patch, bumps updatedAt and keeps omitted fields": async ({ persistence: p }) => {
      const n = newRun();
      await p.createRun(n);
      const r1 = await p.updateRun(n.id, { status: "RUNNING", startedAt: at(1), currentGroupIndex: 0, claimedBy: "w1" }, at(2));
      eq(r1 && { s: r1.status, st: r1.startedAt, g: r1.currentGroupIndex, c: r1.claimedBy, u: r1.updatedAt, i: r1.input }, {
        s: "RUNNING",
        st: at(1),
        g: 0,
        c: "w1",
        u: at(2),
        i: { a: 1 },
      });
      const r2 = await p.updateRun(n.id, { status: "COMPLETED", output: RICH_JSON, completedAt: at(3), claimedBy: null }, at(3));
      eq(r2?.output, RICH_JSON);
      equal(r2?.claimedBy, null);
      eq(r2?.startedAt, at(1));
      eq(await p.getRun(n.id), r2);
      equal(await p.updateRun("00000000-0000-4000-8000-000000000000", { status: "FAILED" }, at(4)), null);
    },

    "updateRun guard is a compare-and-set: a mismatch changes nothing and returns null": async ({ persistence: p }) => {
      const n = newRun();
      const before = await p.createRun(n);
      equal(await p.updateRun(n.id, { status: "RUNNING" }, at(5), { status: ["RUNNING", "COMPLETED"] }), null);
      equal(await p.updateRun(n.id, { status: "RUNNING" }, at(5), { status: [] }), null);
      eq(await p.getRun(n.id), before);
      equal((await p.updateRun(n.id, { status: "RUNNING" }, at(5), { status: ["PENDING"] }))?.status, "RUNNING");
    },

    "concurrent guarded updates: exactly one wins": async ({ persistence: p }) => {
      const n = newRun();
      await p.createRun(n);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => p.updateRun(n.id, { status: "RUNNING", claimedBy: `w${i}` }, at(1), { status: ["PENDING"] })),
      );
      const winners = results.filter((r) => r !== null);
      equal(winners.length, 1);
      equal((await p.getRun(n.id))?.claimedBy, winners[0]?.claimedBy);
    },

    "upsertStage inserts defaults once; a second upsert returns the stored row unchanged": async ({ persistence: p }) => {
      const run = newRun();
      await p.createRun(run);
      const s = newStage(run.id, "extract", { groupIndex: 2, maxAttempts: 4, traceContext: { traceparent: "tp" } });
      const expected = {
        id: s.id,
        workflowRunId: run.id,
        stageId: "extract",
        stageName: "Stage extract",
        groupIndex: 2,
        status: "PENDING",
        attempt: 0,
        maxAttempts: 4,
        executionToken: null,
        output: null,
        outputRef: null,
        error: null,
        suspendedState: null,
        nextPollAt: null,
        pollIntervalMs: null,
        maxWaitUntil: null,
        metrics: null,
        traceContext: { traceparent: "tp" },
        createdAt: T0,
        updatedAt: T0,
        startedAt: null,
        completedAt: null,
      };
      eq(await p.upsertStage(s), expected);
      eq(await p.upsertStage(newStage(run.id, "extract", { stageName: "other", groupIndex: 9, now: at(10) })), expected);
      eq(await p.getStage(run.id, "extract"), expected);
      equal(await p.getStage(run.id, "missing"), null);
    },

    "updateStage round-trips JSON and date fields": async ({ persistence: p }) => {
      const run = newRun();
      await p.createRun(run);
      await p.upsertStage(newStage(run.id, "s"));
      const patch = {
        status: "SUSPENDED" as const,
        attempt: 1,
        executionToken: "tok-1",
        output: RICH_JSON,
        outputRef: "runs/x/out.json",
        error: "e",
        suspendedState: { batchId: "b-1", items: [1, 2] },
        nextPollAt: at(100),
        pollIntervalMs: 5000,
        maxWaitUntil: at(9000),
        metrics: { tokens: 12, ms: 3.5 },
        traceContext: { traceparent: "tp2" },
        startedAt: at(1),
        completedAt: null,
      };
      const updated = await p.updateStage(run.id, "s", patch, at(2));
      ok(updated);
      const { createdAt, updatedAt, id, workflowRunId, stageId, stageName, groupIndex, maxAttempts, ...rest } = updated;
      eq(rest, patch);
      eq([createdAt, updatedAt], [T0, at(2)]);
      eq(await p.getStage(run.id, "s"), updated);
    },

    "updateStage guards on status, executionToken (null included) and attempt": async ({ persistence: p }) => {
      const run = newRun();
      await p.createRun(run);
      await p.upsertStage(newStage(run.id, "s"));
      equal(await p.updateStage(run.id, "s", { status: "RUNNING" }, at(1), { status: ["RUNNING"] }), null);
      equal(await p.updateStage(run.id, "s", { status: "RUNNING" }, at(1), { executionToken: "someone" }), null);
      equal(await p.updateStage(run.id, "s", { status: "RUNNING" }, at(1), { attempt: 1 }), null);
      const claimed = await p.updateStage(run.id, "s", { status: "RUNNING", attempt: 1, executionToken: "t1" }, at(1), {
        status: ["PENDING"],
        executionToken: null,
        attempt: 0,
      });
      equal(claimed?.executionToken, "t1");
      // A superseded execution (old token) can no longer commit.
      equal(await p.updateStage(run.id, "s", { status: "COMPLETED" }, at(2), { executionToken: null }), null);
      equal(await p.updateStage(run.id, "s", { status: "COMPLETED" }, at(2), { executionToken: "t0" }), null);
      equal((await p.updateStage(run.id, "s", { status: "COMPLETED" }, at(2), { executionToken: "t1", attempt: 1 }))?.status, "COMPLETED");
      equal(await p.updateStage(run.id, "missing", { status: "FAILED" }, at(3)), null);
    },

    "listStages orders by groupIndex; deleteStages returns how many it removed": async ({ persistence: p }) => {
      const run = newRun();
      const other = newRun();
      await p.createRun(run);
      await p.createRun(other);
      await p.upsertStage(newStage(run.id, "c", { groupIndex: 2 }));
      await p.upsertStage(newStage(run.id, "a", { groupIndex: 0 }));
      await p.upsertStage(newStage(run.id, "b", { groupIndex: 1 }));
      await p.upsertStage(newStage(other.id, "a", { groupIndex: 0 }));
      eq(
        (await p.listStages(run.id)).map((s) => s.stageId),
        ["a", "b", "c"],
      );
      equal(await p.deleteStages(run.id, ["b", "c", "nope"]), 2);
      eq(
        (await p.listStages(run.id)).map((s) => s.stageId),
        ["a"],
      );
      equal((await p.listStages(other.id)).length, 1);
    },

    "transaction commits every write together and returns fn's value": async ({ persistence: p }) => {
      const n = newRun();
      const out = await p.transaction(async (tx) => {
        await tx.createRun(n);
        await tx.upsertStage(newStage(n.id, "s"));
        const seen = await tx.getRun(n.id, { forUpdate: true });
        equal(seen?.id, n.id, "a transaction reads its own writes");
        return "value";
      });
      equal(out, "value");
      equal((await p.getRun(n.id))?.status, "PENDING");
      equal((await p.listStages(n.id)).length, 1);
    },

    "transaction that throws rolls back every write (runs, stages, logs, outbox, annotations, artifacts, keys)": async ({
      persistence: p,
    }) => {
      const existing = newRun();
      const before = await p.createRun(existing);
      const fresh = newRun();
      const boom = new Error("boom");
      await rejects(
        p.transaction(async (tx) => {
          await tx.createRun(fresh);
          await tx.upsertStage(newStage(fresh.id, "s"));
          await tx.updateRun(existing.id, { status: "RUNNING", output: { x: 1 } }, at(1));
          await tx.upsertStage(newStage(existing.id, "s2"));
          await tx.appendLogs([
            { id: randomUUID(), workflowRunId: existing.id, stageId: null, level: "INFO", message: "m", meta: null, createdAt: at(1) },
          ]);
          await tx.appendOutbox([
            {
              id: randomUUID(),
              kind: "event",
              workflowRunId: existing.id,
              type: "workflow:started",
              payload: {},
              createdAt: at(1),
              claimedUntil: null,
            },
          ]);
          await tx.insertAnnotations([
            {
              id: randomUUID(),
              workflowRunId: existing.id,
              stageId: null,
              key: "k",
              value: 1,
              actor: { kind: "user", id: "u" },
              idempotencyKey: "ik",
              createdAt: at(1),
            },
          ]);
          await tx.recordArtifact({
            workflowRunId: existing.id,
            stageId: null,
            key: `runs/${existing.id}/a.bin`,
            size: 3,
            contentType: null,
            createdAt: at(1),
          });
          equal((await tx.acquireIdempotencyKey("cmd", "k1", at(1))).kind, "acquired");
          throw boom;
        }),
        (err) => err === boom,
      );
      equal(await p.getRun(fresh.id), null);
      eq(await p.getRun(existing.id), before);
      eq(await p.listStages(existing.id), []);
      eq(await p.listStages(fresh.id), []);
      eq(await p.listLogs(existing.id), []);
      eq(await p.claimOutbox({ now: at(2), limit: 10, leaseMs: 1000 }), []);
      eq(await p.listAnnotations(existing.id), []);
      eq(await p.listArtifacts(existing.id), []);
      equal((await p.acquireIdempotencyKey("cmd", "k1", at(2))).kind, "acquired", "the rolled-back key is free again");
    },

    "concurrent claimPendingRuns never hand out a run twice (50 runs, 5 claimers)": async ({ persistence: p }) => {
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) {
        const n = newRun({ now: at(i) });
        ids.push(n.id);
        await p.createRun(n);
      }
      const claimer = async (worker: string): Promise<RunRecord[]> => {
        const mine: RunRecord[] = [];
        for (;;) {
          const got = await p.claimPendingRuns(3, worker, at(1000));
          if (got.length === 0) return mine;
          mine.push(...got);
        }
      };
      const perWorker = await Promise.all(["w0", "w1", "w2", "w3", "w4"].map(claimer));
      const all = perWorker.flat();
      equal(all.length, 50, "every run claimed exactly once");
      eq(sortedIds(all), [...ids].sort());
      perWorker.forEach((rows, i) => {
        for (const r of rows) eq([r.status, r.claimedBy, r.startedAt, r.lastActivityAt], ["RUNNING", `w${i}`, at(1000), at(1000)]);
      });
      eq(await p.countRunsByStatus(), { PENDING: 0, RUNNING: 50, COMPLETED: 0, FAILED: 0, CANCELLED: 0 });
    },

    "claimPendingRuns takes the highest priority first, then the oldest; only PENDING runs": async ({ persistence: p }) => {
      const low = newRun({ priority: 1, now: at(0) });
      const highNew = newRun({ priority: 5, now: at(20) });
      const highOld = newRun({ priority: 5, now: at(10) });
      const mid = newRun({ priority: 3, now: at(5) });
      const running = newRun({ priority: 99, now: at(0) });
      for (const n of [low, highNew, highOld, mid, running]) await p.createRun(n);
      await p.updateRun(running.id, { status: "RUNNING" }, at(1));
      eq(
        (await p.claimPendingRuns(3, "w", at(100))).map((r) => r.id),
        [highOld.id, highNew.id, mid.id],
      );
      eq(
        (await p.claimPendingRuns(3, "w", at(100))).map((r) => r.id),
        [low.id],
      );
      eq(await p.claimPendingRuns(3, "w", at(100)), []);
    },

    "findStaleRunningRuns returns RUNNING runs idle since before the cutoff, oldest first": async ({ persistence: p }) => {
      const mk = async (status: "RUNNING" | "PENDING", lastActivityAt: Date) => {
        const n = newRun();
        await p.createRun(n);
        await p.updateRun(n.id, { status, lastActivityAt }, lastActivityAt);
        return n.id;
      };
      const old2 = await mk("RUNNING", at(200));
      const old1 = await mk("RUNNING", at(100));
      await mk("RUNNING", at(5000));
      await mk("PENDING", at(50));
      eq(
        (await p.findStaleRunningRuns(at(1000), 10)).map((r) => r.id),
        [old1, old2],
      );
      eq(
        (await p.findStaleRunningRuns(at(1000), 1)).map((r) => r.id),
        [old1],
      );
      eq(await p.findStaleRunningRuns(at(100), 10), [], "the cutoff is strict");
    },

    "listRuns filters by workflow and status and pages newest first with createdBefore": async ({ persistence: p }) => {
      const runs: string[] = [];
      for (let i = 0; i < 7; i++) {
        const n = newRun({ workflowId: i % 2 === 0 ? "wf-a" : "wf-b", now: at(i * 10) });
        runs.push(n.id);
        await p.createRun(n);
      }
      await p.updateRun(runs[4]!, { status: "COMPLETED" }, at(100));
      eq(
        (await p.listRuns({ workflowId: "wf-a" })).map((r) => r.id),
        [runs[6], runs[4], runs[2], runs[0]],
      );
      eq(
        (await p.listRuns({ status: ["COMPLETED"] })).map((r) => r.id),
        [runs[4]],
      );
      eq(
        (await p.listRuns({ workflowId: "wf-a", status: ["PENDING"] })).map((r) => r.id),
        [runs[6], runs[2], runs[0]],
      );
      const page1 = await p.listRuns({ limit: 3 });
      eq(
        page1.map((r) => r.id),
        [runs[6], runs[5], runs[4]],
      );
      const page2 = await p.listRuns({ limit: 3, createdBefore: page1[2]!.createdAt });
      eq(
        page2.map((r) => r.id),
        [runs[3], runs[2], runs[1]],
      );
      const page3 = await p.listRuns({ limit: 3, createdBefore: page2[2]!.createdAt });
      eq(
        page3.map((r) => r.id),
        [runs[0]],
      );
    },

    "listRuns pages through runs created in the same millisecond with createdBefore and beforeId": async ({ persistence: p }) => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const n = newRun({ now: at(i < 4 ? 50 : 10) }); // four runs share one instant
        ids.push(n.id);
        await p.createRun(n);
      }
      const seen: string[] = [];
      let page = await p.listRuns({ limit: 2 });
      while (page.length > 0) {
        seen.push(...page.map((r) => r.id));
        const last = page.at(-1)!;
        page = await p.listRuns({ limit: 2, createdBefore: last.createdAt, beforeId: last.id });
      }
      const sameInstant = ids.slice(0, 4).sort().reverse();
      eq(seen, [...sameInstant, ids[4]], "every run once, newest first, ties by id descending");
    },

    "countRunsByStatus counts every status, zeros included": async ({ persistence: p }) => {
      eq(await p.countRunsByStatus(), { PENDING: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0 });
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const n = newRun();
        ids.push(n.id);
        await p.createRun(n);
      }
      await p.updateRun(ids[0]!, { status: "RUNNING" }, at(1));
      await p.updateRun(ids[1]!, { status: "FAILED" }, at(1));
      eq(await p.countRunsByStatus(), { PENDING: 2, RUNNING: 1, COMPLETED: 0, FAILED: 1, CANCELLED: 0 });
    },

    "claimDueSuspendedStages leases due stages soonest first; an immediate second claim gets nothing": async ({ persistence: p }) => {
      const run = newRun();
      await p.createRun(run);
      const mk = async (stageId: string, status: "SUSPENDED" | "RUNNING", nextPollAt: Date) => {
        await p.upsertStage(newStage(run.id, stageId));
        await p.updateStage(run.id, stageId, { status, nextPollAt }, at(0));
      };
      await mk("later-due", "SUSPENDED", at(500));
      await mk("sooner-due", "SUSPENDED", at(100));
      await mk("not-due", "SUSPENDED", at(5000));
      await mk("running", "RUNNING", at(0));
      const now = at(1000);
      eq(
        (await p.claimDueSuspendedStages(now, 10, 60_000)).map((s) => s.stageId),
        ["sooner-due", "later-due"],
      );
      eq((await p.getStage(run.id, "sooner-due"))?.nextPollAt, at(61_000), "the claim is nextPollAt = now + leaseMs");
      eq(await p.claimDueSuspendedStages(now, 10, 60_000), []);
      eq(
        (await p.claimDueSuspendedStages(at(61_000), 1, 60_000)).map((s) => s.stageId),
        ["not-due"],
      );
    },

    "concurrent claimDueSuspendedStages never return the same stage twice": async ({ persistence: p }) => {
      const run = newRun();
      await p.createRun(run);
      for (let i = 0; i < 20; i++) {
        await p.upsertStage(newStage(run.id, `s${i}`));
        await p.updateStage(run.id, `s${i}`, { status: "SUSPENDED", nextPollAt: at(i) }, at(0));
      }
      const claims = await Promise.all(Array.from({ length: 5 }, () => p.claimDueSuspendedStages(at(100), 6, 60_000)));
      const got = claims.flat().map((s) => s.stageId);
      equal(new Set(got).size, got.length, "no stage claimed twice");
      equal(got.length, 20);
    },
  });
}

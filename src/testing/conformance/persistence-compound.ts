import { randomUUID } from "node:crypto";
import { deepStrictEqual as eq, equal } from "node:assert/strict";
import type { NewOutboxRow, Persistence } from "../../ports/persistence.js";
import { type ConformanceCase, at, defineCases } from "./case.js";
import { type PersistenceUnderTest, RICH_JSON, newRun, newStage } from "./persistence-fixtures.js";

const event = (workflowRunId: string, type: string): NewOutboxRow => ({
  id: randomUUID(),
  kind: "event",
  workflowRunId,
  type,
  payload: { type },
  createdAt: at(0),
  claimedUntil: at(60_000),
});

/** Whether outbox row `id` exists (claimable by its writer). */
async function hasOutbox(p: Persistence, id: string): Promise<boolean> {
  return (await p.claimOutbox({ now: at(1), limit: 1, leaseMs: 1, ids: [id] })).length === 1;
}

/** A RUNNING run (group 0) of workflow "wf-conformance" with stage "s" (maxAttempts 2). */
async function runningRun(p: Persistence): Promise<string> {
  const run = newRun();
  await p.createRun(run);
  await p.updateRun(run.id, { status: "RUNNING", currentGroupIndex: 0 }, at(1));
  await p.upsertStage(newStage(run.id, "s", { maxAttempts: 2 }));
  return run.id;
}

/** The compound single-write methods of the Persistence port (the kernel's hot path). */
export function persistenceCompoundCases(factory: () => Promise<PersistenceUnderTest>): ConformanceCase[] {
  return defineCases("persistence", factory, {
    "upsertStages inserts the missing rows and returns every row, stored ones unchanged; updateRuns patches and counts": async ({
      persistence: p,
    }) => {
      const a = newRun();
      const b = newRun();
      await p.createRun(a);
      await p.createRun(b);
      const stored = await p.upsertStage(newStage(a.id, "s1", { maxAttempts: 7 }));
      const rows = await p.upsertStages([
        newStage(a.id, "s1", { stageName: "ignored", maxAttempts: 1 }),
        newStage(a.id, "s2", { traceContext: { traceparent: "00-abc-def-01" } }),
        newStage(b.id, "s1", { groupIndex: 2, now: at(3) }),
      ]);
      const byKey = (r: { workflowRunId: string; stageId: string }) => `${r.workflowRunId}/${r.stageId}`;
      rows.sort((x, y) => (byKey(x) < byKey(y) ? -1 : 1));
      const expected = [await p.getStage(a.id, "s1"), await p.getStage(a.id, "s2"), await p.getStage(b.id, "s1")];
      expected.sort((x, y) => (byKey(x!) < byKey(y!) ? -1 : 1));
      eq(rows, expected, "returned rows are the stored rows");
      eq(await p.getStage(a.id, "s1"), stored, "a stored row is left unchanged");
      eq((await p.getStage(a.id, "s2"))?.traceContext, { traceparent: "00-abc-def-01" });
      eq([(await p.getStage(b.id, "s1"))?.groupIndex, (await p.getStage(b.id, "s1"))?.status], [2, "PENDING"]);
      eq(await p.upsertStages([]), []);
      equal(await p.updateRuns([a.id, b.id, a.id, "missing"], { currentGroupIndex: 0, lastActivityAt: at(9) }, at(9)), 2);
      for (const id of [a.id, b.id]) eq([(await p.getRun(id))?.currentGroupIndex, (await p.getRun(id))?.lastActivityAt], [0, at(9)]);
      equal(await p.updateRuns([], { currentGroupIndex: 1 }, at(10)), 0);
    },

    "startStageAttempt starts a PENDING stage one attempt behind, with run activity and outbox; else writes nothing": async ({
      persistence: p,
    }) => {
      const runId = await runningRun(p);
      const before = await p.getStage(runId, "s");
      const start = (over: Partial<Parameters<Persistence["startStageAttempt"]>[0]> = {}) => {
        const row = event(runId, "stage:started");
        const o = { runId, workflowId: "wf-conformance", stageId: "s", attempt: 1, executionToken: "t1", now: at(5), outbox: [row] };
        return { row, result: p.startStageAttempt({ ...o, ...over }) };
      };
      for (const over of [{ workflowId: "other" }, { attempt: 2 }, { stageId: "missing" }]) {
        const { row, result } = start(over);
        equal(await result, null, JSON.stringify(over));
        eq(await p.getStage(runId, "s"), before, "the stage is untouched");
        equal(await hasOutbox(p, row.id), false, "no outbox row");
      }
      const { row, result } = start();
      const started = await result;
      eq(started?.run, await p.getRun(runId), "the returned run is the stored one");
      eq(started?.stage, await p.getStage(runId, "s"), "the returned stage is the stored one");
      eq(
        [
          started?.stage.status,
          started?.stage.attempt,
          started?.stage.executionToken,
          started?.stage.startedAt,
          started?.run.lastActivityAt,
        ],
        ["RUNNING", 1, "t1", at(5), at(5)],
      );
      equal(await hasOutbox(p, row.id), true);
      equal(await start({ executionToken: "t2" }).result, null, "a RUNNING stage is not started again");
      await p.updateStage(runId, "s", { status: "PENDING", attempt: 2, executionToken: null }, at(6));
      equal(await start({ attempt: 3 }).result, null, "an attempt past maxAttempts is not started");
      const pending = newRun();
      await p.createRun(pending);
      await p.upsertStage(newStage(pending.id, "s"));
      equal(await start({ runId: pending.id }).result, null, "a run that is not RUNNING starts nothing");
      equal((await p.getStage(pending.id, "s"))?.status, "PENDING");
    },

    "createRunStarted starts a run with its stages and every outbox row when no run is PENDING; else creates it PENDING with the created rows only; a known key writes nothing":
      async ({ persistence: p }) => {
        const attempt = (key: string) => {
          const run = newRun();
          const created = event(run.id, "workflow:created");
          const started = event(run.id, "workflow:started");
          const o = {
            run,
            key: { command: "run.create", key, result: { workflowRunId: run.id } },
            claimedBy: "host-1",
            stages: [newStage(run.id, "a", { maxAttempts: 3 }), newStage(run.id, "b")],
            created: [created],
            started: [started],
          };
          return { run, created, started, result: p.createRunStarted(o) };
        };
        const first = attempt("k1");
        equal(await first.result, "started");
        const run = await p.getRun(first.run.id);
        eq([run?.status, run?.claimedBy, run?.startedAt, run?.currentGroupIndex], ["RUNNING", "host-1", first.run.now, 0]);
        eq((await p.listStages(first.run.id)).map((s) => [s.stageId, s.status, s.attempt, s.maxAttempts]).sort(), [
          ["a", "PENDING", 0, 3],
          ["b", "PENDING", 0, 3],
        ]);
        eq([await hasOutbox(p, first.created.id), await hasOutbox(p, first.started.id)], [true, true]);

        const again = attempt("k1");
        equal(await again.result, "exists");
        equal(await p.getRun(again.run.id), null, "a known key writes no run");
        equal(await hasOutbox(p, again.created.id), false);

        // A PENDING run waits (a backlog): the new run joins it, to be claimed in priority order.
        const waiting = newRun();
        await p.createRun(waiting);
        const queued = attempt("k2");
        equal(await queued.result, "pending");
        const q = await p.getRun(queued.run.id);
        eq([q?.status, q?.claimedBy, q?.startedAt, q?.currentGroupIndex], ["PENDING", null, null, -1]);
        eq(await p.listStages(queued.run.id), [], "no stage before its claim");
        eq([await hasOutbox(p, queued.created.id), await hasOutbox(p, queued.started.id)], [true, false]);
      },

    "commitStageAndRun writes stage, run and outbox together when group and token match; else nothing": async ({ persistence: p }) => {
      const runId = await runningRun(p);
      await p.updateStage(runId, "s", { status: "RUNNING", attempt: 1, executionToken: "t1" }, at(2));
      const commit = (over: { groupIndex?: number; executionToken?: string } = {}) => {
        const row = event(runId, "workflow:completed");
        const result = p.commitStageAndRun({
          runId,
          groupIndex: over.groupIndex ?? 0,
          stageId: "s",
          executionToken: over.executionToken ?? "t1",
          stagePatch: { status: "COMPLETED", output: RICH_JSON, completedAt: at(7) },
          runPatch: { status: "COMPLETED", output: { out: RICH_JSON }, completedAt: at(7), lastActivityAt: at(7) },
          now: at(7),
          outbox: [row],
        });
        return { row, result };
      };
      const stageBefore = await p.getStage(runId, "s");
      const runBefore = await p.getRun(runId);
      for (const over of [{ executionToken: "t0" }, { groupIndex: 1 }]) {
        const { row, result } = commit(over);
        equal(await result, false, JSON.stringify(over));
        eq([await p.getStage(runId, "s"), await p.getRun(runId)], [stageBefore, runBefore], "nothing written");
        equal(await hasOutbox(p, row.id), false);
      }
      const { row, result } = commit();
      equal(await result, true);
      const [stage, run] = [await p.getStage(runId, "s"), await p.getRun(runId)];
      eq([stage?.status, stage?.output, stage?.completedAt, stage?.updatedAt], ["COMPLETED", RICH_JSON, at(7), at(7)]);
      eq([run?.status, run?.output, run?.completedAt], ["COMPLETED", { out: RICH_JSON }, at(7)]);
      equal(await hasOutbox(p, row.id), true);
      equal(await commit().result, false, "a committed stage is not committed twice");
    },

    "commitStageAndRun with stageStatus SUSPENDED resumes a suspended stage, whatever its token, with its logs; never a running one":
      async ({ persistence: p }) => {
        const runId = await runningRun(p);
        const log = (id: string, message: string) => ({
          id,
          workflowRunId: runId,
          stageId: "s",
          level: "INFO" as const,
          message,
          meta: id === "l1" ? { rich: RICH_JSON } : null,
          createdAt: at(6),
        });
        const resume = () =>
          p.commitStageAndRun({
            runId,
            groupIndex: 0,
            stageId: "s",
            executionToken: "not-the-token",
            stageStatus: "SUSPENDED",
            stagePatch: { status: "COMPLETED", output: { ok: 1 }, suspendedState: null, nextPollAt: null, completedAt: at(7) },
            runPatch: { status: "COMPLETED", output: { out: 1 }, completedAt: at(7), lastActivityAt: at(7) },
            now: at(7),
            outbox: [],
            logs: [log("l1", "first"), log("l2", "second")],
          });
        await p.updateStage(runId, "s", { status: "RUNNING", attempt: 1, executionToken: "t1" }, at(2));
        equal(await resume(), false, "a RUNNING stage is not resumed");
        eq(await p.listLogs(runId), [], "nor its logs written");
        await p.updateStage(runId, "s", { status: "SUSPENDED", suspendedState: { taskId: "x" } }, at(3));
        equal(await resume(), true);
        const [stage, run] = [await p.getStage(runId, "s"), await p.getRun(runId)];
        eq([stage?.status, stage?.output, stage?.suspendedState, run?.status], ["COMPLETED", { ok: 1 }, null, "COMPLETED"]);
        eq(
          (await p.listLogs(runId)).map((l) => [l.message, l.meta, l.createdAt]),
          [
            ["first", { rich: RICH_JSON }, at(6)],
            ["second", null, at(6)],
          ],
        );
        equal(await resume(), false, "a completed stage is not resumed twice");
      },
  });
}

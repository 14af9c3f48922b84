import { deepStrictEqual as eq, equal, ok } from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { type ConformanceCase, T0, at, defineCases } from "./case.js";
import { type ActivityTaskStoreUnderTest, newTask, reissue, report, start } from "./activity-task-store-fixtures.js";
import { activityTaskPriorityCases } from "./activity-task-store-priority.js";
import { activityTaskRefreshCases } from "./activity-task-store-refresh.js";

export type { ActivityTaskStoreUnderTest } from "./activity-task-store-fixtures.js";

/** The fencing the remote-activity broker relies on: a stale attempt can never overwrite a newer one. */
export function activityTaskStoreConformance(factory: () => Promise<ActivityTaskStoreUnderTest>): ConformanceCase[] {
  return [...fencingCases(factory), ...activityTaskPriorityCases(factory), ...activityTaskRefreshCases(factory)];
}

function fencingCases(factory: () => Promise<ActivityTaskStoreUnderTest>): ConformanceCase[] {
  return defineCases("activity task store", factory, {
    "createTask stores exact fields and is idempotent by taskId": async ({ store: s }) => {
      const n = newTask({ deadline: at(3_600_000), traceContext: { traceparent: "tp" } });
      const created = await s.createTask(n);
      eq(created, {
        taskId: n.taskId,
        workflowRunId: n.workflowRunId,
        workflowId: n.workflowId,
        stageId: "render",
        queue: "gpu",
        codeVersion: "v1",
        requiredLabels: { gpu: "true" },
        status: "PENDING",
        attempt: 0,
        maxAttempts: 3,
        priority: 0,
        capability: "cap-secret",
        capabilitySpentBy: null,
        maxUploadBytes: 6 * 1024 ** 3,
        leaseToken: null,
        leaseDeadline: null,
        workerId: null,
        input: { frames: [1, 2] },
        config: { q: "high" },
        heartbeatDetails: null,
        heartbeatAt: null,
        outcome: null,
        output: null,
        error: null,
        report: null,
        reportedAt: null,
        deadline: at(3_600_000),
        traceContext: { traceparent: "tp" },
        createdAt: T0,
        updatedAt: T0,
      });
      eq(await s.createTask({ ...n, input: { other: 1 }, queue: "cpu", now: at(5) }), created);
      eq(await s.getTask(n.taskId), created);
      equal(await s.getTask(randomUUID()), null);
    },

    "a task created without maxUploadBytes reads back null (the broker applies its default)": async ({ store: s }) => {
      const n = newTask();
      delete n.maxUploadBytes;
      equal((await s.createTask(n)).maxUploadBytes, null);
      equal((await s.getTask(n.taskId))?.maxUploadBytes, null);
    },

    "listTasks filters by run, status and queue": async ({ store: s }) => {
      const run = randomUUID();
      const a = await s.createTask(newTask({ workflowRunId: run, now: at(0) }));
      const b = await s.createTask(newTask({ workflowRunId: run, queue: "cpu", now: at(1) }));
      await s.createTask(newTask());
      await s.startAttempt(b.taskId, start(1, "t"));
      eq((await s.listTasks({ workflowRunId: run })).map((t) => t.taskId).sort(), [a.taskId, b.taskId].sort());
      eq(
        (await s.listTasks({ workflowRunId: run, status: ["LEASED"] })).map((t) => t.taskId),
        [b.taskId],
      );
      eq(
        (await s.listTasks({ workflowRunId: run, queue: "gpu" })).map((t) => t.taskId),
        [a.taskId],
      );
    },

    "startAttempt accepts only a newer attempt, or the same attempt with the same token": async ({ store: s }) => {
      const { taskId } = await s.createTask(newTask());
      const r1 = await s.startAttempt(taskId, start(1, "t1", at(30_000)));
      equal(r1.accepted, true);
      eq(r1.task && [r1.task.status, r1.task.attempt, r1.task.leaseToken, r1.task.workerId, r1.task.leaseDeadline], [
        "LEASED",
        1,
        "t1",
        "w-1",
        at(30_000),
      ]);
      equal((await s.startAttempt(taskId, start(1, "t1"))).accepted, true, "idempotent retry of the same call");
      equal((await s.startAttempt(taskId, start(1, "other"))).accepted, false, "same attempt, other token");
      await reissue(s, taskId);
      equal((await s.startAttempt(taskId, start(2, "t2"))).accepted, true);
      eq(
        (await s.getTask(taskId))?.attempts?.map((a) => [a.attempt, a.workerId]),
        [
          [1, "w-1"],
          [2, "w-2"],
        ],
        "every started attempt is kept once, the idempotent retry adds none",
      );
      const old = await s.startAttempt(taskId, start(1, "t1"));
      equal(old.accepted, false, "an older attempt cannot take the task back");
      equal(old.task?.leaseToken, "t2");
      eq(await s.startAttempt(randomUUID(), start(1, "x")), { accepted: false, task: null });
    },

    "startAttempt refuses a newer attempt while the current one's lease is live": async ({ store: s }) => {
      const { taskId } = await s.createTask(newTask());
      equal((await s.startAttempt(taskId, start(1, "t1", at(30_000)))).accepted, true);
      const early = await s.startAttempt(taskId, start(2, "t2", at(60_000), at(29_999)));
      equal(early.accepted, false, "attempt 1 holds its lease until 30 s");
      eq(early.task && [early.task.attempt, early.task.leaseToken, early.task.leaseDeadline], [1, "t1", at(30_000)]);
      equal(
        await s.reissueCapability(taskId, { capability: "cap-secret", newCapability: "c2", lapsedBefore: at(29_999), now: at(5) }),
        null,
      );
      await reissue(s, taskId, at(30_000));
      equal((await s.startAttempt(taskId, start(2, "t2", at(60_000), at(30_000)))).accepted, true, "expired: taken over");
      const beat = await s.recordHeartbeat(taskId, {
        attempt: 2,
        leaseToken: "t2",
        details: null,
        leaseDeadline: at(40_000),
        now: at(35_000),
      });
      equal(beat.accepted, true);
      const cap = (await s.getTask(taskId))?.capability ?? "";
      equal(await s.reissueCapability(taskId, { capability: cap, newCapability: "c3", lapsedBefore: at(39_999), now: at(36_000) }), null);
      equal((await s.startAttempt(taskId, start(3, "t3", at(90_000), at(39_999)))).accepted, false, "a heartbeat extended it");
    },

    "concurrent startAttempt of the same new attempt with different tokens: exactly one wins": async ({ store: s }) => {
      const { taskId } = await s.createTask(newTask());
      const res = await Promise.all(Array.from({ length: 6 }, (_, i) => s.startAttempt(taskId, start(1, `tok-${i}`))));
      equal(res.filter((r) => r.accepted).length, 1);
    },

    "a capability opens one attempt: the next needs a reissued capability, which only a lapsed lease allows, once": async ({
      store: s,
    }) => {
      const { taskId } = await s.createTask(newTask());
      equal((await s.startAttempt(taskId, start(1, "t1", at(30_000)))).accepted, true);
      equal((await s.getTask(taskId))?.capabilitySpentBy, 1);
      const again = await s.startAttempt(taskId, { ...start(2, "t2"), capability: "cap-secret" });
      equal(again.accepted, false, "the spent capability opens no second attempt, even with the lease lapsed");
      equal(again.task?.attempt, 1);
      const reissued = { capability: "cap-secret", lapsedBefore: at(30_000), now: at(31_000) };
      const wins = await Promise.all(
        ["n1", "n2", "n3"].map((c) => s.reissueCapability(taskId, { ...reissued, newCapability: `fresh-capability-${c}` })),
      );
      const won = wins.filter((w) => w !== null);
      equal(won.length, 1, "of concurrent reissues one wins");
      eq(won[0] && [won[0].status, won[0].attempt, won[0].capabilitySpentBy, won[0].updatedAt], ["LEASED", 1, null, at(31_000)]);
      const fresh = won[0]!.capability!;
      equal((await s.startAttempt(taskId, { ...start(2, "t2"), capability: "cap-secret" })).accepted, false, "the old capability is gone");
      const r2 = await s.startAttempt(taskId, { ...start(2, "t2"), capability: fresh });
      equal(r2.accepted, true);
      equal(r2.task?.capabilitySpentBy, 2);
      equal(
        await s.reissueCapability(taskId, { ...reissued, capability: "cap-secret", newCapability: "x".repeat(20) }),
        null,
        "guarded by the spent capability",
      );
    },

    "a release by the holder returns the capability unspent to its message": async ({ store: s }) => {
      const { taskId } = await s.createTask(newTask());
      await s.startAttempt(taskId, start(1, "t1"));
      const beat = { attempt: 1, leaseToken: "t1", leaseDeadline: at(20), now: at(20) };
      equal((await s.recordHeartbeat(taskId, { ...beat, leaseToken: "forged", release: true })).accepted, false);
      equal((await s.getTask(taskId))?.capabilitySpentBy, 1, "only the holder releases");
      equal((await s.recordHeartbeat(taskId, { ...beat, release: true })).accepted, true);
      eq((await s.getTask(taskId))?.capabilitySpentBy, null);
      equal(
        (await s.startAttempt(taskId, { ...start(2, "t2"), capability: "cap-secret" })).accepted,
        true,
        "its redelivery opens attempt 2",
      );
    },

    "claimStranded gives each claimed task with a spent capability its own new one": async ({ store: s }) => {
      const a = await s.createTask(newTask({ now: at(0) }));
      const b = await s.createTask(newTask({ now: at(0) }));
      const pending = await s.createTask(newTask({ now: at(0) }));
      for (const t of [a, b]) await s.startAttempt(t.taskId, { ...start(1, "t1", at(100)), now: at(1) });
      const claimed = await s.claimStranded(at(10_000), at(5_000), 10);
      eq(claimed.map((t) => t.taskId).sort(), [a.taskId, b.taskId, pending.taskId].sort());
      const caps = claimed.map((t) => t.capability);
      equal(new Set(caps).size, 3, "capabilities stay distinct per task");
      for (const t of claimed) equal(t.capabilitySpentBy, null);
      equal(claimed.find((t) => t.taskId === pending.taskId)?.capability, "cap-secret", "an unspent capability is kept");
      for (const t of [a, b]) {
        const c = claimed.find((x) => x.taskId === t.taskId)?.capability ?? "";
        ok(c !== "cap-secret" && c.length >= 16, `task ${t.taskId} got a new unguessable capability (${c})`);
      }
      for (const t of [a, b]) {
        const cur = await s.getTask(t.taskId);
        equal(cur?.capability, claimed.find((x) => x.taskId === t.taskId)?.capability, "stored as returned");
        equal((await s.startAttempt(t.taskId, { ...start(2, "t2"), capability: cur!.capability })).accepted, true);
      }
    },

    "heartbeats count only for the current attempt and token; they report cancellation": async ({ store: s }) => {
      const { taskId, workflowRunId } = await s.createTask(newTask());
      await s.startAttempt(taskId, start(1, "t1"));
      await reissue(s, taskId);
      await s.startAttempt(taskId, start(2, "t2"));
      const beat = (attempt: number, leaseToken: string, details: unknown) =>
        s.recordHeartbeat(taskId, { attempt, leaseToken, details, leaseDeadline: at(90_000), now: at(50) });
      eq(await beat(1, "t1", { p: 1 }), { accepted: false, cancelled: false });
      eq(await beat(2, "wrong", { p: 1 }), { accepted: false, cancelled: false });
      eq(await beat(2, "t2", { progress: 0.5, cursor: "c-9" }), { accepted: true, cancelled: false });
      const t = await s.getTask(taskId);
      eq(t && [t.heartbeatDetails, t.heartbeatAt, t.leaseDeadline], [{ progress: 0.5, cursor: "c-9" }, at(50), at(90_000)]);
      eq(await s.cancelTasksForRun(workflowRunId, at(60)), [taskId]);
      const after = await beat(2, "t2", { progress: 0.6 });
      equal(after.cancelled, true, "the worker is told to stop");
      equal(after.accepted, false);
    },

    "exactly one terminal outcome: a second report is refused already_terminal": async ({ store: s }) => {
      const { taskId } = await s.createTask(newTask());
      await s.startAttempt(taskId, start(1, "t1"));
      const v1 = await s.recordReport(taskId, report(1, "t1", { output: { frames: 2 } }), at(100));
      equal(v1.accepted, true);
      ok(v1.accepted);
      eq(
        [v1.task.status, v1.task.outcome, v1.task.output, v1.task.reportedAt, v1.task.report],
        ["COMPLETED", "completed", { frames: 2 }, at(100), { attempt: 1, leaseToken: "t1", via: "conformance" }],
      );
      const v2 = await s.recordReport(taskId, report(1, "t1", { outcome: "failed", error: "late" }), at(200));
      eq(v2.accepted ? "accepted" : v2.reason, "already_terminal");
      eq(await s.getTask(taskId), v1.task, "the first outcome stands");
    },

    "concurrent reports of the current attempt: exactly one is accepted": async ({ store: s }) => {
      const { taskId } = await s.createTask(newTask());
      await s.startAttempt(taskId, start(1, "t1"));
      const vs = await Promise.all([
        s.recordReport(taskId, report(1, "t1"), at(10)),
        s.recordReport(taskId, report(1, "t1", { outcome: "failed", error: "x" }), at(10)),
        s.recordReport(taskId, report(1, "t1"), at(10)),
      ]);
      equal(vs.filter((v) => v.accepted).length, 1);
    },

    "a stale attempt's report is refused stale_attempt, even after a newer attempt started": async ({ store: s }) => {
      const { taskId } = await s.createTask(newTask());
      await s.startAttempt(taskId, start(1, "t1"));
      await reissue(s, taskId);
      await s.startAttempt(taskId, start(2, "t2"));
      const stale = await s.recordReport(taskId, report(1, "t1"), at(10));
      eq(stale.accepted ? "accepted" : stale.reason, "stale_attempt");
      equal((await s.getTask(taskId))?.status, "LEASED");
      const wrongToken = await s.recordReport(taskId, report(2, "t1"), at(11));
      eq(wrongToken.accepted ? "accepted" : wrongToken.reason, "stale_attempt");
      const current = await s.recordReport(taskId, report(2, "t2", { outcome: "failed", error: "oom", output: undefined }), at(12));
      ok(current.accepted);
      eq([current.task.status, current.task.outcome, current.task.error], ["FAILED", "failed", "oom"]);
      const unknown = await s.recordReport(randomUUID(), report(1, "t"), at(13));
      eq(unknown.accepted ? "accepted" : [unknown.reason, unknown.task], ["unknown_task", null]);
    },

    "cancelTasksForRun cancels only that run's unfinished tasks; their reports are refused run_cancelled": async ({ store: s }) => {
      const run = randomUUID();
      const pending = await s.createTask(newTask({ workflowRunId: run }));
      const leased = await s.createTask(newTask({ workflowRunId: run }));
      const done = await s.createTask(newTask({ workflowRunId: run }));
      const otherRun = await s.createTask(newTask());
      await s.startAttempt(leased.taskId, start(1, "t1"));
      await s.startAttempt(done.taskId, start(1, "td"));
      await s.recordReport(done.taskId, report(1, "td"), at(5));
      eq((await s.cancelTasksForRun(run, at(10))).sort(), [pending.taskId, leased.taskId].sort());
      equal((await s.getTask(leased.taskId))?.status, "CANCELLED");
      equal((await s.getTask(done.taskId))?.status, "COMPLETED");
      equal((await s.getTask(otherRun.taskId))?.status, "PENDING");
      const late = await s.recordReport(leased.taskId, report(1, "t1"), at(20));
      eq(late.accepted ? "accepted" : late.reason, "run_cancelled");
      equal((await s.startAttempt(pending.taskId, start(1, "t"))).accepted, false, "a cancelled task cannot start");
      eq(await s.cancelTasksForRun(run, at(30)), []);
    },

    "failTask fails an unfinished task and leaves a finished one alone": async ({ store: s }) => {
      const a = await s.createTask(newTask());
      const failed = await s.failTask(a.taskId, "deadline exceeded", at(10));
      eq(failed && [failed.status, failed.error, failed.updatedAt], ["FAILED", "deadline exceeded", at(10)]);
      equal((await s.startAttempt(a.taskId, start(1, "t"))).accepted, false, "a failed task cannot start");
      const b = await s.createTask(newTask());
      await s.startAttempt(b.taskId, start(1, "t"));
      await s.recordReport(b.taskId, report(1, "t"), at(5));
      equal(await s.failTask(b.taskId, "too late", at(10)), null, "nothing changed");
      const stillDone = await s.getTask(b.taskId);
      eq(stillDone && [stillDone.status, stillDone.error], ["COMPLETED", null]);
      equal(await s.failTask(randomUUID(), "x", at(10)), null);
    },

    "findExpired returns leased tasks past their lease and unfinished tasks past their deadline": async ({ store: s }) => {
      const leaseGone = await s.createTask(newTask());
      await s.startAttempt(leaseGone.taskId, start(1, "t", at(1_000)));
      const leaseOk = await s.createTask(newTask());
      await s.startAttempt(leaseOk.taskId, start(1, "t", at(100_000)));
      const pastDeadline = await s.createTask(newTask({ deadline: at(2_000) }));
      const futureDeadline = await s.createTask(newTask({ deadline: at(100_000) }));
      const doneLate = await s.createTask(newTask({ deadline: at(2_000) }));
      await s.startAttempt(doneLate.taskId, start(1, "t", at(1_000)));
      await s.recordReport(doneLate.taskId, report(1, "t"), at(500));
      const ids = (await s.findExpired(at(5_000), 10)).map((t) => t.taskId).sort();
      eq(ids, [leaseGone.taskId, pastDeadline.taskId].sort());
      equal((await s.findExpired(at(5_000), 1)).length, 1, "limit is honoured");
      ok(![leaseOk.taskId, futureDeadline.taskId].some((id) => ids.includes(id)));
    },

    "claimStranded claims live tasks no delivery can reach, once per period, and never a held or finished one": async ({ store: s }) => {
      const pending = await s.createTask(newTask());
      const lostLease = await s.createTask(newTask());
      await s.startAttempt(lostLease.taskId, start(1, "t", at(1_000)));
      const heldLease = await s.createTask(newTask());
      await s.startAttempt(heldLease.taskId, start(1, "t", at(100_000)));
      const justExpired = await s.createTask(newTask());
      await s.startAttempt(justExpired.taskId, start(1, "t", at(9_000)));
      const lastAttempt = await s.createTask(newTask({ maxAttempts: 1 }));
      await s.startAttempt(lastAttempt.taskId, start(1, "t", at(1_000)));
      const pastDeadline = await s.createTask(newTask({ deadline: at(5_000) }));
      const done = await s.createTask(newTask());
      await s.startAttempt(done.taskId, start(1, "t", at(1_000)));
      await s.recordReport(done.taskId, report(1, "t"), at(500));
      const young = await s.createTask(newTask({ now: at(8_000) }));

      // Cutoff 5 s before now: the lease ended at 1 s, so no redelivery took it in 4 s or more.
      const claimed = await s.claimStranded(at(10_000), at(5_000), 10);
      eq(claimed.map((t) => t.taskId).sort(), [pending.taskId, lostLease.taskId].sort());
      eq(
        claimed.map((t) => t.updatedAt),
        [at(10_000), at(10_000)],
        "a claim marks the task, so the next period claims it again only if still stranded",
      );
      const lost = claimed.find((t) => t.taskId === lostLease.taskId)!;
      eq([lost.status, lost.attempt], ["LEASED", 1], "claiming changes no state but the mark");
      eq(await s.claimStranded(at(11_000), at(6_000), 10), [], "claimed within the period: not again");
      eq(
        (await s.claimStranded(at(16_000), at(11_000), 10)).map((t) => t.taskId).sort(),
        [pending.taskId, lostLease.taskId, young.taskId, justExpired.taskId].sort(),
        "a period later, still stranded: claimed again (and those whose lease ended by the new cutoff)",
      );
      ok(!(await s.claimStranded(at(60_000), at(55_000), 10)).some((t) => t.taskId === heldLease.taskId), "a live lease is never claimed");
      const later = (await s.claimStranded(at(200_000), at(150_000), 10)).map((t) => t.taskId);
      for (const id of [lastAttempt.taskId, pastDeadline.taskId, done.taskId]) {
        ok(!later.includes(id), `never claimed: ${id}`);
      }
      equal(later.length, 5, "the held lease ended at 100 s: claimed now, with the other four");
      equal((await s.claimStranded(at(400_000), at(350_000), 1)).length, 1, "limit is honoured");
      // The next attempt of the lost lease starts as usual after a claim.
      equal((await s.startAttempt(lostLease.taskId, { ...start(2, "t2"), liveLeaseCutoff: at(400_000) })).accepted, true);
    },

    "startToClose caps each attempt's lease from its start; a beat after it is refused naming it": async ({ store: s }) => {
      const { taskId } = await s.createTask(newTask({ timeouts: { startToCloseMs: 10_000 } }));
      const r = await s.startAttempt(taskId, { ...start(1, "t1", at(60_000)), now: at(1_000) });
      eq(r.task && [r.task.leaseDeadline, r.task.attemptStartedAt, r.task.timeouts], [at(11_000), at(1_000), { startToCloseMs: 10_000 }]);
      const beat = (now: number, details?: unknown) =>
        s.recordHeartbeat(taskId, { attempt: 1, leaseToken: "t1", details, leaseDeadline: at(now + 60_000), now: at(now) });
      eq(await beat(5_000, { p: 1 }), { accepted: true, cancelled: false });
      eq((await s.getTask(taskId))?.leaseDeadline, at(11_000), "the beat cannot extend past startToClose");
      eq(await beat(11_000), { accepted: false, cancelled: false, timedOut: "startToClose" });
      const late = await s.recordReport(taskId, report(1, "t1"), at(11_000));
      eq(late.accepted ? "accepted" : late.reason, "stale_attempt", "its report comes too late");
      eq(
        (await s.findExpired(at(12_000), 10)).map((t) => t.taskId),
        [taskId],
      );
      // The next attempt gets a fresh timer.
      await reissue(s, taskId, at(20_000), at(20_000));
      const r2 = await s.startAttempt(taskId, { ...start(2, "t2", at(80_000)), now: at(20_000) });
      eq(r2.task && [r2.accepted, r2.task.leaseDeadline], [true, at(30_000)]);
    },

    "heartbeatTimeout counts from the start or the last beat with details; plain beats do not restart it": async ({ store: s }) => {
      const { taskId } = await s.createTask(newTask({ timeouts: { heartbeatTimeoutMs: 1_000 } }));
      await s.startAttempt(taskId, { ...start(1, "t1", at(60_000)), now: at(0) });
      const beat = (now: number, details?: unknown) =>
        s.recordHeartbeat(taskId, { attempt: 1, leaseToken: "t1", details, leaseDeadline: at(now + 60_000), now: at(now) });
      eq(await beat(500), { accepted: true, cancelled: false });
      eq((await s.getTask(taskId))?.leaseDeadline, at(1_000), "a plain beat keeps the timer");
      eq(await beat(900, { step: 1 }), { accepted: true, cancelled: false });
      const t = await s.getTask(taskId);
      eq(t && [t.leaseDeadline, t.progressAt], [at(1_900), at(900)]);
      eq(await beat(1_950), { accepted: false, cancelled: false, timedOut: "heartbeat" });
      eq(await beat(1_960, { step: 2 }), { accepted: false, cancelled: false, timedOut: "heartbeat" }, "a late beat cannot revive it");
    },

    "findExpired returns pending tasks whose scheduleToStart passed, not started ones": async ({ store: s }) => {
      const waiting = await s.createTask(newTask({ timeouts: { scheduleToStartMs: 1_000 } }));
      const started = await s.createTask(newTask({ timeouts: { scheduleToStartMs: 1_000 } }));
      await s.startAttempt(started.taskId, start(1, "t", at(100_000)));
      eq(
        (await s.findExpired(at(999), 10)).map((t) => t.taskId),
        [],
      );
      eq(
        (await s.findExpired(at(2_000), 10)).map((t) => t.taskId),
        [waiting.taskId],
      );
    },
  });
}

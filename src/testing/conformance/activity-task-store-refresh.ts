/**
 * Batched lease refreshes (`refreshLeases`): applied exactly where a plain `recordHeartbeat` would
 * be, with the same timer caps, and nowhere else: not for a forged token, a stale attempt, an
 * unknown, cancelled or finished task, or an attempt whose timer fired.
 */
import { deepStrictEqual as eq } from "node:assert/strict";
import { type ConformanceCase, at, defineCases } from "./case.js";
import { type ActivityTaskStoreUnderTest, newTask, report, start } from "./activity-task-store-fixtures.js";

/** The batched lease refresh cases of the activity task store conformance suite. */
export function activityTaskRefreshCases(factory: () => Promise<ActivityTaskStoreUnderTest>): ConformanceCase[] {
  return defineCases("activity task store", factory, {
    "refreshLeases extends the current attempts it names and no other, answering by index": async ({ store: s }) => {
      const live = await s.createTask(newTask());
      const forged = await s.createTask(newTask());
      const cancelled = await s.createTask(newTask());
      const done = await s.createTask(newTask());
      const pending = await s.createTask(newTask());
      for (const t of [live, forged, cancelled, done]) await s.startAttempt(t.taskId, { ...start(1, "t1", at(30_000)), now: at(0) });
      await s.recordHeartbeat(live.taskId, { attempt: 1, leaseToken: "t1", details: { page: 2 }, leaseDeadline: at(30_000), now: at(1) });
      await s.cancelTasksForRun(cancelled.workflowRunId, at(2));
      await s.recordReport(done.taskId, report(1, "t1"), at(3));
      const applied = await s.refreshLeases(
        [
          { taskId: forged.taskId, attempt: 1, leaseToken: "forged" },
          { taskId: live.taskId, attempt: 1, leaseToken: "t1" },
          { taskId: forged.taskId, attempt: 2, leaseToken: "t1" },
          { taskId: cancelled.taskId, attempt: 1, leaseToken: "t1" },
          { taskId: done.taskId, attempt: 1, leaseToken: "t1" },
          { taskId: pending.taskId, attempt: 1, leaseToken: "t1" },
          { taskId: "no-such-task", attempt: 1, leaseToken: "t1" },
        ],
        { leaseDeadline: at(50_000), now: at(20_000) },
      );
      eq([...applied], [1]);
      const t = await s.getTask(live.taskId);
      eq(t && [t.leaseDeadline, t.heartbeatAt, t.heartbeatDetails], [at(50_000), at(20_000), { page: 2 }], "details kept");
      eq((await s.getTask(forged.taskId))?.leaseDeadline, at(30_000), "the forged and stale beats changed nothing");
      eq((await s.getTask(cancelled.taskId))?.status, "CANCELLED");
      eq((await s.getTask(done.taskId))?.status, "COMPLETED");
      eq((await s.getTask(pending.taskId))?.status, "PENDING");
      eq([...(await s.refreshLeases([], { leaseDeadline: at(50_000), now: at(20_000) }))], []);
    },

    "refreshLeases keeps the attempt's timers: capped by startToClose, refused once a timer fired": async ({ store: s }) => {
      const capped = await s.createTask(newTask({ timeouts: { startToCloseMs: 10_000 } }));
      const silent = await s.createTask(newTask({ timeouts: { heartbeatTimeoutMs: 1_000 } }));
      await s.startAttempt(capped.taskId, { ...start(1, "t1", at(60_000)), now: at(0) });
      await s.startAttempt(silent.taskId, { ...start(1, "t1", at(60_000)), now: at(0) });
      const beats = [
        { taskId: capped.taskId, attempt: 1, leaseToken: "t1" },
        { taskId: silent.taskId, attempt: 1, leaseToken: "t1" },
      ];
      eq([...(await s.refreshLeases(beats, { leaseDeadline: at(60_500), now: at(500) }))].sort(), [0, 1]);
      eq((await s.getTask(capped.taskId))?.leaseDeadline, at(10_000), "no later than startToClose");
      eq((await s.getTask(silent.taskId))?.leaseDeadline, at(1_000), "a plain refresh does not restart heartbeatTimeout");
      eq([...(await s.refreshLeases(beats, { leaseDeadline: at(61_500), now: at(1_500) }))], [0], "heartbeatTimeout fired");
      eq([...(await s.refreshLeases(beats, { leaseDeadline: at(70_000), now: at(10_000) }))], [], "startToClose fired");
    },
  });
}

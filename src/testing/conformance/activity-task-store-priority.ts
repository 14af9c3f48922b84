/**
 * Priority of remote tasks in the activity task store: stored at creation and returned by every
 * read the broker builds a message from (getTask, claimStranded, reissueCapability), so a task
 * published again lands in its band, not the normal one (src/remote/broker.ts `toTaskMessage`).
 */
import { deepStrictEqual as eq, equal, ok, rejects } from "node:assert/strict";
import { INT4_MAX, INT4_MIN } from "../../contract/storable.js";
import { type ConformanceCase, at, defineCases } from "./case.js";
import { type ActivityTaskStoreUnderTest, newTask, start } from "./activity-task-store-fixtures.js";

/** The priority cases of the activity task store conformance suite. */
export function activityTaskPriorityCases(factory: () => Promise<ActivityTaskStoreUnderTest>): ConformanceCase[] {
  return defineCases("activity task store", factory, {
    "priority is stored as created (int4 bounds exactly), unset reads 0, and a repeated create keeps the first": async ({ store: s }) => {
      for (const priority of [7, -3, INT4_MAX, INT4_MIN]) {
        const n = newTask({ priority });
        equal((await s.createTask(n)).priority, priority);
        equal((await s.getTask(n.taskId))?.priority, priority, `getTask returns ${priority}`);
        equal((await s.createTask({ ...n, priority: 1 })).priority, priority, "idempotent create: the stored priority stands");
      }
      const unset = newTask();
      equal((await s.createTask(unset)).priority, 0);
      equal((await s.getTask(unset.taskId))?.priority, 0);
      const run = newTask({ priority: 4 });
      await s.createTask(run);
      eq(
        (await s.listTasks({ workflowRunId: run.workflowRunId })).map((t) => t.priority),
        [4],
      );
    },

    "claimStranded and reissueCapability return the task's priority, for the message published again": async ({ store: s }) => {
      const high = await s.createTask(newTask({ priority: 5, now: at(0) }));
      const low = await s.createTask(newTask({ priority: -2, now: at(0) }));
      const normal = await s.createTask(newTask({ now: at(0) }));
      await s.startAttempt(high.taskId, { ...start(1, "t1", at(100)), now: at(1) });
      const claimed = await s.claimStranded(at(10_000), at(5_000), 10);
      eq(
        new Map(claimed.map((t) => [t.taskId, t.priority])),
        new Map([
          [high.taskId, 5],
          [low.taskId, -2],
          [normal.taskId, 0],
        ]),
      );

      const leased = await s.createTask(newTask({ priority: 9 }));
      await s.startAttempt(leased.taskId, start(1, "t1", at(1_000)));
      const fresh = await s.reissueCapability(leased.taskId, {
        capability: "cap-secret",
        newCapability: "reissued-capability",
        lapsedBefore: at(2_000),
        now: at(2_000),
      });
      eq(fresh && [fresh.capability, fresh.priority], ["reissued-capability", 9]);
      const found = await s.findExpired(at(3_000), 10);
      equal(found.find((t) => t.taskId === leased.taskId)?.priority, 9, "findExpired too");
    },

    "createTask refuses a priority that is not an int4 integer, naming it, and stores nothing": async ({ store: s }) => {
      for (const priority of [1.5, INT4_MAX + 1, INT4_MIN - 1, Number.NaN, Number.POSITIVE_INFINITY]) {
        const n = newTask({ priority });
        await rejects(s.createTask(n), (err: Error & { code?: string }) => {
          equal(err.code, "VALIDATION", `${priority}: ${err.message}`);
          ok(/priority/.test(err.message), err.message);
          return true;
        });
        equal(await s.getTask(n.taskId), null, `nothing stored for ${priority}`);
      }
    },
  });
}

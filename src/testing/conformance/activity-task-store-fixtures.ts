/** Fixtures shared by the activity task store conformance cases. */
import { randomUUID } from "node:crypto";
import type { ActivityReport, ActivityTaskStore, NewActivityTask } from "../../ports/activity-task-store.js";
import { type Disposable, T0, at } from "./case.js";

/** What activityTaskStoreConformance's factory returns: a fresh, empty store. */
export interface ActivityTaskStoreUnderTest extends Disposable {
  store: ActivityTaskStore;
}

/** A task to create with every field set (overrides in `o`); no priority, so it reads back 0. */
export function newTask(o: Partial<NewActivityTask> = {}): NewActivityTask {
  return {
    taskId: randomUUID(),
    workflowRunId: randomUUID(),
    workflowId: "wf-conformance",
    stageId: "render",
    queue: "gpu",
    codeVersion: "v1",
    requiredLabels: { gpu: "true" },
    maxAttempts: 3,
    capability: "cap-secret",
    // Over 2^32: the limit must survive a 64-bit column exactly.
    maxUploadBytes: 6 * 1024 ** 3,
    input: { frames: [1, 2] },
    config: { q: "high" },
    deadline: null,
    traceContext: null,
    now: T0,
    ...o,
  };
}

/** Starts `attempt`; by default a live lease does not block it (`liveLeaseCutoff` far in the future). */
export const start = (attempt: number, leaseToken: string, leaseDeadline = at(60_000), liveLeaseCutoff = at(1e12)) => ({
  attempt,
  leaseToken,
  workerId: `w-${attempt}`,
  leaseDeadline,
  now: at(attempt),
  liveLeaseCutoff,
});
/**
 * What the broker does before a newer attempt may start once the current one's lease ended: the
 * spent capability is replaced (as if the task went out as a new message). Returns the new one.
 */
export async function reissue(s: ActivityTaskStore, taskId: string, lapsedBefore = at(1e12), now = at(10)): Promise<string> {
  const t = await s.getTask(taskId);
  const fresh = await s.reissueCapability(taskId, { capability: t?.capability ?? "", newCapability: randomUUID(), lapsedBefore, now });
  if (!fresh?.capability) throw new Error(`reissueCapability refused for task ${taskId}`);
  return fresh.capability;
}
/** A report of `attempt` fenced by `leaseToken`, completed unless `o` says otherwise. */
export const report = (attempt: number, leaseToken: string, o: Partial<ActivityReport> = {}): ActivityReport => ({
  attempt,
  leaseToken,
  outcome: "completed",
  output: { ok: true },
  raw: { attempt, leaseToken, via: "conformance" },
  ...o,
});

/**
 * The fields of a remote task that never change after it is created (queue, version, capability,
 * limits, run and stage), kept in memory by the broker that created or read the task. Starts and
 * reports check them here instead of reading the row first; the store's guarded update still
 * fences the attempt, and a miss (another orchestrator's task, a restart) reads the row as before.
 */
import type { ActivityTaskRecord } from "../ports/activity-task-store.js";

/** What a start or report needs to know about its task besides the fenced state. */
export type TaskFacts = Pick<
  ActivityTaskRecord,
  "taskId" | "workflowRunId" | "workflowId" | "stageId" | "queue" | "codeVersion" | "maxAttempts" | "capability" | "deadline" | "createdAt"
> &
  Pick<ActivityTaskRecord, "timeouts">;

/** A bounded map of task facts: the oldest entry goes first once `max` is reached. */
export class TaskFactsCache {
  private readonly facts = new Map<string, TaskFacts>();

  constructor(private readonly max = 20_000) {}

  remember(t: ActivityTaskRecord): void {
    if (this.facts.has(t.taskId)) return;
    if (this.facts.size >= this.max) {
      const oldest = this.facts.keys().next();
      if (!oldest.done) this.facts.delete(oldest.value);
    }
    const { taskId, workflowRunId, workflowId, stageId, queue, codeVersion, maxAttempts, capability, deadline, createdAt, timeouts } = t;
    this.facts.set(taskId, {
      taskId,
      workflowRunId,
      workflowId,
      stageId,
      queue,
      codeVersion,
      maxAttempts,
      capability,
      deadline,
      createdAt,
      timeouts: timeouts ?? null,
    });
  }

  get(taskId: string): TaskFacts | undefined {
    return this.facts.get(taskId);
  }

  /** A terminal task is never started or reported on again (a late one takes the slow path). */
  forget(taskId: string): void {
    this.facts.delete(taskId);
  }
}

/**
 * Finds remote tasks that wait for a worker while no live worker could take them (wrong queue,
 * no worker of that code version, or nobody with the required labels), so the wait is reported
 * instead of silent: a WARN log line on the run's stage (`jetflow runs get --logs`), the
 * orchestrator's own log, and `unservedTasks` in `jetflow stats`. A task drops off the list as
 * soon as a worker that can serve it registers or the task leaves PENDING.
 */
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { listWorkers } from "../adapters/jetstream/fleet/index.js";
import type { ActivityTaskRecord, ActivityTaskStore } from "../src/ports/activity-task-store.js";
import type { Logger } from "../src/ports/logger.js";
import type { Persistence } from "../src/ports/persistence.js";
import type { UnservedTaskJson } from "../src/contract/api-messages.js";
import { noWorkerDetail } from "../adapters/jetstream/remote/task-waits.js";

export interface UnservedWatchOptions {
  nc: NatsConnection;
  store: ActivityTaskStore;
  persistence: Pick<Persistence, "appendLogs">;
  prefix: string;
  logger: Logger;
  /** A task is judged once it has waited this long (workers need a moment to pull). Default 30 s. */
  afterMs?: number;
  /** Check period. Default 5 s. */
  intervalMs?: number;
}

/** A running watch. */
export interface UnservedWatch {
  /** The tasks currently waiting with no live worker able to serve them. */
  list(): UnservedTaskJson[];
  /** Runs one check now (also what the timer runs). */
  check(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the periodic check; `stop()` waits for a check in progress. */
export function startUnservedWatch(o: UnservedWatchOptions): UnservedWatch {
  const afterMs = o.afterMs ?? 30_000;
  const unserved = new Map<string, { task: ActivityTaskRecord; reason: string }>();
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  async function check(): Promise<void> {
    const now = Date.now();
    const waiting = (await o.store.listTasks({ status: ["PENDING"], limit: 500 })).filter((t) => now - t.createdAt.getTime() >= afterMs);
    const seen = new Set<string>();
    if (waiting.length > 0) {
      const workers = await listWorkers(o.nc, { prefix: o.prefix });
      for (const t of waiting) {
        seen.add(t.taskId);
        const reason = noWorkerDetail(workers, t);
        if (reason === null) {
          unserved.delete(t.taskId);
          continue;
        }
        const known = unserved.get(t.taskId);
        unserved.set(t.taskId, { task: t, reason });
        if (known?.reason === reason) continue;
        o.logger.warn(
          {
            taskId: t.taskId,
            workflowRunId: t.workflowRunId,
            stageId: t.stageId,
            queue: t.queue,
            codeVersion: t.codeVersion,
            requiredLabels: t.requiredLabels,
            reason,
          },
          "remote task waits with no worker able to serve it",
        );
        await o.persistence.appendLogs([
          {
            id: randomUUID(),
            workflowRunId: t.workflowRunId,
            stageId: t.stageId,
            level: "WARN",
            message: `waiting for a worker: ${reason}`,
            meta: { taskId: t.taskId, requiredLabels: t.requiredLabels },
            createdAt: new Date(),
          },
        ]);
      }
    }
    for (const id of unserved.keys()) if (!seen.has(id)) unserved.delete(id);
  }

  const tick = () => {
    running = check().catch((err: unknown) =>
      o.logger.warn({ err: (err as Error).message }, "unserved-task check failed; retrying next tick"),
    );
  };
  const timer = setInterval(() => {
    if (!stopped) tick();
  }, o.intervalMs ?? 5_000);
  timer.unref();

  return {
    list: () =>
      [...unserved.values()].map(({ task: t, reason }) => ({
        taskId: t.taskId,
        workflowRunId: t.workflowRunId,
        stageId: t.stageId,
        queue: t.queue,
        codeVersion: t.codeVersion,
        requiredLabels: t.requiredLabels,
        waitingMs: Math.max(0, Date.now() - t.createdAt.getTime()),
        reason,
      })),
    check,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

/** Replays a worker's collected logs and annotations into a kernel context, so they persist with the outcome. */
import type { LogLevel } from "../ports/records.js";
import type { Annotate } from "../contract/stage-types.js";
import type { TaskOutcome } from "./types.js";

export async function replayWorkerRecords(
  outcome: TaskOutcome,
  ctx: { log(level: LogLevel, message: string, meta?: Record<string, unknown>): Promise<void>; annotate: Annotate },
): Promise<void> {
  for (const l of outcome.logs) {
    await ctx.log(l.level, l.message, {
      ...(l.meta ?? {}),
      remote: { taskId: outcome.taskId, attempt: outcome.attempt, workerId: outcome.workerId, at: l.at },
    });
  }
  for (const a of outcome.annotations) {
    ctx.annotate({ attributes: a.attributes, ...(a.idempotencyKey ? { idempotencyKey: a.idempotencyKey } : {}) });
  }
}

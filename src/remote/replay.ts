/** Replays a worker's collected logs, annotations and AI calls into a kernel context, so they persist with the outcome. */
import type { LogLevel } from "../ports/records.js";
import type { AIRecorder } from "../contract/ai-calls.js";
import type { Annotate } from "../contract/stage-types.js";
import type { TaskOutcome } from "./types.js";

export async function replayWorkerRecords(
  outcome: TaskOutcome,
  ctx: { log(level: LogLevel, message: string, meta?: Record<string, unknown>): Promise<void>; annotate: Annotate; ai?: AIRecorder },
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
  // Keyed by task and attempt: a check that replays the same outcome again (its commit lost, or
  // two pollers) stores each call once.
  outcome.aiCalls.forEach((c, i) => ctx.ai?.record(c, `${outcome.taskId}:${outcome.attempt}:${i}`));
}

/**
 * `ctx.ai` of a remote attempt: AI calls are kept for the report (the orchestrator stores them
 * with the outcome; workers hold no database credentials). Spend for budgets is what the task
 * says was spent before it (`aiSpent`) plus this attempt's own calls.
 */
import { type AIRecorder, type AISpend, PendingAICalls, type ReportAICall, aiTopic, knownCost } from "../src/contract/ai-calls.js";

/** Calls one report carries at most; the schema refuses more. */
export const MAX_AI_CALLS = 10_000;

/**
 * A recorder that hands each call to `sink` and counts it towards the spend. Keys are not sent:
 * the orchestrator derives each call's id from the task, attempt and position. Streams still in
 * flight register in `pending`; the caller abandons them before it builds the report, so they
 * are recorded (as aborted) in it rather than after it was sent.
 */
export function workerAIRecorder(
  task: { workflowRunId: string; stageId: string; aiSpent?: AISpend | undefined },
  sink: (call: ReportAICall) => void,
  pending?: PendingAICalls,
): AIRecorder {
  const own: ReportAICall[] = [];
  const before = task.aiSpent ?? { run: 0, stage: 0 };
  return {
    topic: aiTopic(task.workflowRunId, task.stageId),
    record(call) {
      own.push(call);
      sink(call);
    },
    ...(pending ? { track: (abandon: (reason: string) => void) => pending.track(abandon) } : {}),
    async spent() {
      const mine = knownCost(own);
      return { run: before.run + mine, stage: before.stage + mine };
    },
  };
}

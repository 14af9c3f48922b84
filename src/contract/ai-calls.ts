/**
 * What a stage's AI helper hands to the engine for every model call, local or remote. Shared by
 * the kernel (which stores the calls with the attempt), the worker SDK (which carries them in the
 * report) and `jetflow/ai` (which makes the calls). No AI SDK import here: workers load this file.
 */
import { z } from "zod";
import { int4, storableText } from "./storable.js";

/** Topic of a stage's AI calls: `workflow.<runId>.stage.<stageId>`. */
export function aiTopic(workflowRunId: string, stageId: string): string {
  return `workflow.${workflowRunId}.stage.${stageId}`;
}

/** One model call as a worker reports it (no id, no topic: the orchestrator derives both). */
export const ReportAICall = z.object({
  model: storableText(200),
  /** Provider id as the AI SDK names it (`openai.chat`, `anthropic.messages`, …). */
  provider: storableText(200).optional(),
  /** `generateText`, `generateObject`, `embed`, `embedMany`, `batch`, … */
  callType: storableText(50),
  inputTokens: int4().min(0),
  outputTokens: int4().min(0),
  cachedInputTokens: int4().min(0).optional(),
  /** USD; null when the model has no price in the catalogue (never guessed). */
  cost: z.number().min(0).nullable(),
  latencyMs: z.number().min(0),
  status: z.enum(["ok", "error"]),
  error: storableText(2000).optional(),
  at: z.string().datetime({ offset: true }),
});
/** One model call as a worker reports it. */
export type ReportAICall = z.output<typeof ReportAICall>;

/** Cost already spent (USD), the budget checks compare against it. */
export interface AISpend {
  run: number;
  stage: number;
}

/**
 * Where the AI helper records calls: `ctx.ai` of a stage or a completion check. Calls are
 * buffered and stored with the attempt (also when it fails: the money is spent either way); a
 * remote worker carries them in its report.
 */
export interface AIRecorder {
  /** `workflow.<runId>.stage.<stageId>`. */
  readonly topic: string;
  /**
   * Buffers one call. `key`: a stable name of the call within this stage (e.g. a batch item); a
   * call recorded again under the same key is stored once.
   */
  record(call: ReportAICall, key?: string): void;
  /** Known cost of the run and of this stage so far, this attempt's calls included. */
  spent(): Promise<AISpend>;
  /**
   * Registers a call still in flight after the helper returned (a `streamText` stream). When the
   * attempt ends (its outcome is stored or reported), the engine calls `abandon` on every call
   * not yet finished: the helper aborts it and records it at once, so a stream the stage never
   * consumed is neither lost nor left running. Returns the function the helper calls once the
   * call is recorded (it is then no longer pending). Optional: a recorder without it records
   * only what finishes.
   */
  track?(abandon: (reason: string) => void): () => void;
}

/** Why an unfinished stream is recorded as an error. */
export const ABANDONED_AI_CALL = "aborted: the stream had not finished when the stage's attempt ended";

/** The in-flight calls of one attempt (see {@link AIRecorder.track}). */
export class PendingAICalls {
  private readonly pending = new Set<(reason: string) => void>();
  /** {@link AIRecorder.track}. */
  track(abandon: (reason: string) => void): () => void {
    this.pending.add(abandon);
    return () => void this.pending.delete(abandon);
  }
  /** Abandons every call still in flight; each records itself synchronously. */
  abandonAll(reason: string = ABANDONED_AI_CALL): void {
    const all = [...this.pending];
    this.pending.clear();
    for (const abandon of all) abandon(reason);
  }
}

/** Sum of the known costs of `calls` (unknown costs count as 0). */
export function knownCost(calls: readonly { cost: number | null }[]): number {
  return calls.reduce((s, c) => s + (c.cost ?? 0), 0);
}

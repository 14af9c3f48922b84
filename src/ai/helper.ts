/**
 * `createAIHelper`: the AI SDK's generateText / generateObject / embed / embedMany with the same
 * signatures, plus cost tracking. Every call (successful or not) is recorded on the stage's
 * `ctx.ai` with model, tokens, cost (from the price catalogue; null when unknown), latency and
 * status; the kernel stores the records with the attempt and a remote worker carries them in its
 * report. Optional per-run / per-stage budgets refuse calls once the cap is spent.
 */
import { NoObjectGeneratedError, embed, embedMany, generateObject, generateText, type LanguageModel, type EmbeddingModel } from "ai";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { AIRecorder, ReportAICall } from "../contract/ai-calls.js";
import { TRACER_NAME } from "../contract/spans.js";
import { type ModelCatalogue, type TokenUsage, defaultModelCatalogue } from "./catalogue.js";
import { AIBudgetExceededError, AIHelperError } from "./errors.js";
import { modelIdentity, resolveEmbeddingModel, resolveLanguageModel } from "./providers.js";
import { type GenAIOperation, recordAIMetrics, requestAttributes } from "./telemetry.js";
import { type AIBatchApi, createBatchApi } from "./batch.js";
import { type TrackedStreamText, trackedStreamText } from "./stream-text.js";

/** Cost caps in USD. A call is refused once the spend reached a cap; a call whose cost crosses it fails after being recorded. */
export interface AIBudget {
  /** Cap over every stage of the run (calls recorded so far plus this attempt's). */
  perRunUsd?: number;
  /** Cap over this stage's calls (all attempts). */
  perStageUsd?: number;
  /** Under a budget, calls to a model without a catalogue price are refused (their cost cannot be capped) unless this is true. */
  allowUnpriced?: boolean;
}

/** Options of {@link createAIHelper}. */
export interface AIHelperOptions {
  /** Prices; default the shipped catalogue (see `loadModelCatalogue` to extend it). */
  catalogue?: ModelCatalogue;
  budget?: AIBudget;
  /** generateObject: asks again this many times when the output fails the schema. Default 1. */
  schemaRetries?: number;
}

/** The AI SDK functions, tracked; see the module comment. */
export interface AIHelper {
  readonly topic: string;
  generateText: typeof generateText;
  /**
   * The AI SDK's streamText with its options, awaited: the budget is checked before the model
   * is called. The call is recorded once, when the stream finishes, errors or is aborted; a
   * stream still running when the attempt ends is aborted and recorded as an error.
   */
  streamText: TrackedStreamText;
  generateObject: typeof generateObject;
  embed: typeof embed;
  embedMany: typeof embedMany;
  /** Provider batch APIs: submit in `execute`, poll in `checkCompletion` of an async-batch stage. */
  batch: AIBatchApi;
}

/** What the helper needs from a stage or check context: its `ai` recorder. */
export type AIHelperContext = { ai?: AIRecorder | undefined } | AIRecorder;

interface Measured<T> {
  value: T;
  usage: TokenUsage;
}

/** Records a call begun with {@link Tracker.begin}: `error` set means status error. Returns the cost recorded (null when unknown). */
export type FinishCall = (usage: TokenUsage, error?: unknown) => number | null;

/** Internal: what generateText/embed/batch share. */
export interface Tracker {
  readonly recorder: AIRecorder;
  readonly catalogue: ModelCatalogue;
  checkBudget(modelId: string, provider: string | undefined): Promise<void>;
  /** Starts a call's span and clock; the returned function records the call once, ends the span and returns its known cost. */
  begin(op: GenAIOperation, callType: string, model: { modelId: string; provider: string | undefined }): FinishCall;
  /** The cap the recorded spend has reached, if any (null without a budget). */
  overBudget(): Promise<AIBudgetExceededError | null>;
  run<T>(
    op: GenAIOperation,
    callType: string,
    model: { modelId: string; provider: string | undefined },
    fn: () => Promise<Measured<T>>,
  ): Promise<T>;
}

/** Token usage of an AI SDK usage object (`usage`, `totalUsage`). */
export function usageOf(
  u:
    | { inputTokens?: number | undefined; outputTokens?: number | undefined; inputTokenDetails?: { cacheReadTokens?: number | undefined } }
    | undefined,
): TokenUsage {
  return { inputTokens: u?.inputTokens, outputTokens: u?.outputTokens, cachedInputTokens: u?.inputTokenDetails?.cacheReadTokens };
}

/** The AI SDK reports NaN tokens when the provider did not say: that is unknown, not 0. */
function embeddingUsage(u: { tokens: number } | undefined): TokenUsage {
  const tokens = u?.tokens;
  return { inputTokens: typeof tokens === "number" && Number.isFinite(tokens) ? tokens : undefined, outputTokens: 0 };
}

/**
 * An AI helper recording on `ctx.ai` (a StageContext or CheckContext, or an AIRecorder).
 * @throws AIHelperError when the context has no recorder (a hand-made context).
 */
export function createAIHelper(ctx: AIHelperContext, opts: AIHelperOptions = {}): AIHelper {
  const recorder: AIRecorder | undefined = "record" in ctx && typeof ctx.record === "function" ? ctx : (ctx as { ai?: AIRecorder }).ai;
  if (!recorder) throw new AIHelperError("createAIHelper: the context has no `ai` recorder (pass a stage's ctx or ctx of checkCompletion)");
  const catalogue = opts.catalogue ?? defaultModelCatalogue;
  const budget = opts.budget;
  const schemaRetries = opts.schemaRetries ?? 1;
  if (!(Number.isInteger(schemaRetries) && schemaRetries >= 0))
    throw new AIHelperError("createAIHelper: schemaRetries must be a whole number >= 0");

  const exceeded = (spent: { run: number; stage: number }): AIBudgetExceededError | null => {
    if (budget?.perRunUsd !== undefined && spent.run >= budget.perRunUsd)
      return new AIBudgetExceededError("run", budget.perRunUsd, spent.run, recorder.topic);
    if (budget?.perStageUsd !== undefined && spent.stage >= budget.perStageUsd)
      return new AIBudgetExceededError("stage", budget.perStageUsd, spent.stage, recorder.topic);
    return null;
  };
  const capped = budget !== undefined && (budget.perRunUsd !== undefined || budget.perStageUsd !== undefined);

  const tracker: Tracker = {
    recorder,
    catalogue,
    async checkBudget(modelId, provider) {
      if (!capped) return;
      if (!budget.allowUnpriced && !catalogue.price(modelId, provider))
        throw new AIBudgetExceededError(
          "stage",
          budget.perStageUsd ?? budget.perRunUsd ?? 0,
          0,
          `model "${modelId}" has no price, so a budget cannot cap it`,
        );
      const over = exceeded(await recorder.spent());
      if (over) throw over;
    },
    begin(op, callType, model) {
      const attrs = requestAttributes(op, model.modelId, model.provider, recorder.topic);
      const span = trace.getTracer(TRACER_NAME).startSpan(`${op} ${model.modelId}`, { kind: SpanKind.CLIENT, attributes: attrs });
      const started = performance.now();
      const at = new Date().toISOString();
      return (usage, error) => {
        const failed = error !== undefined;
        const cost = failed ? null : catalogue.cost(model.modelId, model.provider, usage, { batch: op === "batch" });
        // A failed call may still have been billed: record what the provider reported, never a guess.
        const billed = failed && usage.inputTokens !== undefined ? catalogue.cost(model.modelId, model.provider, usage) : cost;
        const latencyMs = performance.now() - started;
        const call: ReportAICall = {
          model: model.modelId,
          ...(model.provider ? { provider: model.provider } : {}),
          callType,
          inputTokens: usage.inputTokens ?? 0,
          outputTokens: usage.outputTokens ?? 0,
          ...(usage.cachedInputTokens !== undefined ? { cachedInputTokens: usage.cachedInputTokens } : {}),
          cost: billed,
          latencyMs,
          status: failed ? "error" : "ok",
          ...(failed ? { error: (error instanceof Error ? error.message : String(error)).slice(0, 2000) } : {}),
          at,
        };
        recorder.record(call);
        span.setAttributes({
          "gen_ai.usage.input_tokens": call.inputTokens,
          "gen_ai.usage.output_tokens": call.outputTokens,
          ...(billed !== null ? { "jetflow.ai.cost_usd": billed } : {}),
        });
        recordAIMetrics(attrs, call, latencyMs / 1000, billed, failed ? ((error as Error).name ?? "Error") : undefined);
        if (failed) {
          span.recordException(error instanceof Error ? error : String(error));
          span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
        }
        span.end();
        return billed;
      };
    },
    async overBudget() {
      return capped ? exceeded(await recorder.spent()) : null;
    },
    async run(op, callType, model, fn) {
      await tracker.checkBudget(model.modelId, model.provider);
      const finish = tracker.begin(op, callType, model);
      let measured: Measured<unknown>;
      try {
        measured = await fn();
      } catch (err) {
        finish(NoObjectGeneratedError.isInstance(err) ? usageOf(err.usage) : { inputTokens: undefined, outputTokens: undefined }, err);
        throw err;
      }
      if (finish(measured.usage) !== null) {
        // The call is paid and recorded; the stage still fails once it crossed a cap.
        const over = await tracker.overBudget();
        if (over) throw over;
      }
      return measured.value as never;
    },
  };

  const trackedText = (async (options: Parameters<typeof generateText>[0]) => {
    const model = resolveLanguageModel(options.model);
    return tracker.run("chat", "generateText", modelIdentity(model), async () => {
      const r = await generateText({ ...options, model });
      return { value: r, usage: usageOf(r.totalUsage) };
    });
  }) as typeof generateText;

  const trackedObject = (async (options: { model: LanguageModel }) => {
    const model = resolveLanguageModel(options.model);
    for (let attempt = 0; ; attempt++) {
      try {
        return await tracker.run("chat", "generateObject", modelIdentity(model), async () => {
          const r = await (generateObject as (o: unknown) => ReturnType<typeof generateObject>)({ ...options, model });
          return { value: r, usage: usageOf(r.usage) };
        });
      } catch (err) {
        // Output that fails the schema is often fixed by asking again; each attempt is recorded.
        if (!NoObjectGeneratedError.isInstance(err) || attempt >= schemaRetries) throw err;
      }
    }
  }) as unknown as typeof generateObject;

  const trackedEmbed = (async (options: Parameters<typeof embed>[0]) => {
    const model = resolveEmbeddingModel(options.model);
    return tracker.run("embeddings", "embed", modelIdentity(model), async () => {
      const r = await embed({ ...options, model });
      return { value: r, usage: embeddingUsage(r.usage) };
    });
  }) as typeof embed;

  const trackedEmbedMany = (async (options: Parameters<typeof embedMany>[0]) => {
    const model: EmbeddingModel = resolveEmbeddingModel(options.model);
    return tracker.run("embeddings", "embedMany", modelIdentity(model), async () => {
      const r = await embedMany({ ...options, model });
      return { value: r, usage: embeddingUsage(r.usage) };
    });
  }) as typeof embedMany;

  return {
    topic: recorder.topic,
    generateText: trackedText,
    streamText: trackedStreamText(tracker),
    generateObject: trackedObject,
    embed: trackedEmbed,
    embedMany: trackedEmbedMany,
    batch: createBatchApi(tracker),
  };
}

/**
 * The helper's `streamText`: the AI SDK's streamText, recorded once when the stream ends —
 * finished (usage from `totalUsage`), errored or aborted (usage of the steps that finished).
 * The budget is checked before the model is called, hence the Promise around the SDK's result.
 */
import { streamText, type StreamTextResult, type ToolSet } from "ai";
import type { TokenUsage } from "./catalogue.js";
import { type Tracker, usageOf } from "./helper.js";
import { modelIdentity, resolveLanguageModel } from "./providers.js";

/** The AI SDK's streamText options (the helper passes them through, callbacks included). */
export type StreamTextOptions = Parameters<typeof streamText>[0];

/** {@link AIHelper.streamText}: like the AI SDK's, but awaited (the budget is checked first). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TrackedStreamText = (options: StreamTextOptions) => Promise<StreamTextResult<ToolSet, any>>;

function sumSteps(steps: readonly { usage: Parameters<typeof usageOf>[0] }[]): TokenUsage {
  if (steps.length === 0) return { inputTokens: undefined, outputTokens: undefined };
  const add = (a: number | undefined, b: number | undefined) => (a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0));
  return steps
    .map((s) => usageOf(s.usage))
    .reduce((a, b) => ({
      inputTokens: add(a.inputTokens, b.inputTokens),
      outputTokens: add(a.outputTokens, b.outputTokens),
      cachedInputTokens: add(a.cachedInputTokens, b.cachedInputTokens),
    }));
}

/** Builds the tracked streamText over `tracker`. */
export function trackedStreamText(tracker: Tracker): TrackedStreamText {
  return async (options) => {
    const model = resolveLanguageModel(options.model);
    const id = modelIdentity(model);
    await tracker.checkBudget(id.modelId, id.provider);
    const finish = tracker.begin("chat", "streamText", id);
    // Our own signal lets the engine stop a stream the stage abandoned; the caller's still works.
    const ours = new AbortController();
    const signal = options.abortSignal ? AbortSignal.any([options.abortSignal, ours.signal]) : ours.signal;
    let done = false;
    const settle = (usage: TokenUsage, error?: unknown) => {
      // First end wins: the SDK calls onFinish after onError, with no usage.
      if (done) return;
      done = true;
      untrack?.();
      finish(usage, error);
    };
    const untrack = tracker.recorder.track?.((reason) => {
      settle({ inputTokens: undefined, outputTokens: undefined }, new Error(reason));
      ours.abort(new Error(reason));
    });
    return streamText({
      ...options,
      model,
      abortSignal: signal,
      onFinish: async (event) => {
        settle(usageOf(event.totalUsage));
        await options.onFinish?.(event);
      },
      onError: async (event) => {
        settle({ inputTokens: undefined, outputTokens: undefined }, event.error);
        await options.onError?.(event);
      },
      onAbort: async (event) => {
        const reason: unknown = signal.reason;
        settle(sumSteps(event.steps), reason instanceof Error ? reason : new Error(`aborted${reason ? `: ${String(reason)}` : ""}`));
        await options.onAbort?.(event);
      },
    });
  };
}

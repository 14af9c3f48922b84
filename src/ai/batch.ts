/**
 * Provider batch APIs (OpenAI / Anthropic batches: half price, results within hours) for
 * async-batch stages: `ai.batch.submit` in `execute` returns a JSON handle to keep as the
 * suspended state, `ai.batch.poll(handle)` in `checkCompletion` asks the provider and, once the
 * batch is done, records every result's tokens and cost. The handle names the provider by its
 * registered name, so an orchestrator that restarted (and registered the same providers at start)
 * polls the same batch. Results are recorded under stable keys: a check that collects them twice
 * (its commit lost, the poll repeated) stores them once.
 */
import { z } from "zod";
import { AIHelperError } from "./errors.js";
import type { Tracker } from "./helper.js";
import { ValidationError } from "../contract/errors.js";

/** One request of a batch. */
export interface AIBatchRequest {
  /** Unique within the batch: results are matched by it. */
  customId: string;
  model: string;
  system?: string;
  prompt: string;
  maxOutputTokens?: number;
}

/** One result of a finished batch. */
export interface AIBatchResult {
  customId: string;
  /** The model that answered (defaults to the request's). */
  model?: string;
  text?: string;
  error?: string;
  usage: { inputTokens: number; outputTokens: number; cachedInputTokens?: number };
}

/** What a provider's batch endpoint answers to a poll. */
export type AIBatchStatus =
  | { status: "pending"; completed?: number; total?: number }
  | { status: "completed"; results: AIBatchResult[] }
  | { status: "failed"; error: string };

/** A provider batch API (implement it over the provider's HTTP API, or a test double). */
export interface AIBatchProvider {
  /** Registered name; stored in the handle. */
  readonly name: string;
  /** AI SDK provider id used for pricing (`openai`, `anthropic`, …). */
  readonly provider: string;
  submit(requests: AIBatchRequest[], opts: { signal?: AbortSignal }): Promise<{ batchId: string }>;
  poll(batchId: string, opts: { signal?: AbortSignal }): Promise<AIBatchStatus>;
}

/** The JSON handle of a submitted batch: keep it as the stage's suspended state. */
export const AIBatchHandle = z.object({
  provider: z.string().min(1),
  batchId: z.string().min(1),
  models: z.record(z.string(), z.string()),
  count: z.number().int().min(0),
  submittedAt: z.string(),
});
/** The JSON handle of a submitted batch. */
export type AIBatchHandle = z.output<typeof AIBatchHandle>;

/** A poll's answer: still running, or done with the results (recorded already). */
export type AIBatchPoll =
  | { done: false; completed?: number; total?: number }
  | { done: true; results: AIBatchResult[]; error?: undefined }
  | { done: true; error: string; results?: undefined };

/** `ai.batch` of the helper. */
export interface AIBatchApi {
  submit(provider: string, requests: AIBatchRequest[], opts?: { signal?: AbortSignal }): Promise<AIBatchHandle>;
  poll(handle: AIBatchHandle, opts?: { signal?: AbortSignal }): Promise<AIBatchPoll>;
}

const batchProviders = new Map<string, AIBatchProvider>();

/** Registers a batch provider under its `name`. Returns the unregister function. */
export function registerBatchProvider(provider: AIBatchProvider): () => void {
  if (!provider || typeof provider.name !== "string" || provider.name === "" || typeof provider.submit !== "function")
    throw new ValidationError("registerBatchProvider", [{ path: "provider", message: "needs a name, submit and poll" }]);
  batchProviders.set(provider.name, provider);
  return () => {
    if (batchProviders.get(provider.name) === provider) batchProviders.delete(provider.name);
  };
}

function providerNamed(name: string): AIBatchProvider {
  const p = batchProviders.get(name);
  if (!p)
    throw new AIHelperError(`no batch provider "${name}" is registered (registered: ${[...batchProviders.keys()].join(", ") || "none"})`);
  return p;
}

export function createBatchApi(tracker: Tracker): AIBatchApi {
  return {
    async submit(name, requests, opts) {
      const p = providerNamed(name);
      const ids = new Set(requests.map((r) => r.customId));
      if (requests.length === 0 || ids.size !== requests.length)
        throw new ValidationError("batch.submit", [{ path: "requests", message: "needs at least one request and unique customIds" }]);
      for (const m of new Set(requests.map((r) => r.model))) await tracker.checkBudget(m, p.provider);
      const { batchId } = await p.submit(requests, opts?.signal ? { signal: opts.signal } : {});
      return {
        provider: name,
        batchId,
        models: Object.fromEntries(requests.map((r) => [r.customId, r.model])),
        count: requests.length,
        submittedAt: new Date().toISOString(),
      };
    },
    async poll(raw, opts) {
      const parsed = AIBatchHandle.safeParse(raw);
      if (!parsed.success) throw new AIHelperError(`batch.poll: not a batch handle: ${parsed.error.message}`);
      const handle = parsed.data;
      const p = providerNamed(handle.provider);
      const s = await p.poll(handle.batchId, opts?.signal ? { signal: opts.signal } : {});
      if (s.status === "pending") return { done: false, ...(s.completed !== undefined ? { completed: s.completed, total: s.total } : {}) };
      if (s.status === "failed") return { done: true, error: s.error };
      for (const r of s.results) {
        const model = r.model ?? handle.models[r.customId] ?? "unknown";
        const cost = tracker.catalogue.cost(model, p.provider, r.usage, { batch: true });
        tracker.recorder.record(
          {
            model,
            provider: p.provider,
            callType: "batch",
            inputTokens: r.usage.inputTokens,
            outputTokens: r.usage.outputTokens,
            ...(r.usage.cachedInputTokens !== undefined ? { cachedInputTokens: r.usage.cachedInputTokens } : {}),
            cost,
            latencyMs: Math.max(0, Date.now() - Date.parse(handle.submittedAt)),
            status: r.error ? "error" : "ok",
            ...(r.error ? { error: r.error.slice(0, 2000) } : {}),
            at: new Date().toISOString(),
          },
          `batch:${handle.batchId}:${r.customId}`,
        );
      }
      return { done: true, results: s.results };
    },
  };
}

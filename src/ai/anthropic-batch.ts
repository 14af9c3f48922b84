/**
 * `anthropicBatchProvider`: the Anthropic Message Batches API (`/v1/messages/batches`) as an
 * `AIBatchProvider`. Submit posts the requests as one batch; poll reads its
 * `processing_status` and, once it has ended, the JSONL results (`succeeded`, `errored`,
 * `canceled`, `expired` per request).
 */
import { z } from "zod";
import { ValidationError } from "../contract/errors.js";
import { parseOptions, positiveInt } from "../contract/options.js";
import type { AIBatchProvider, AIBatchRequest, AIBatchResult } from "./batch.js";
import { BATCH_HTTP_DEFAULTS, batchHttpOptionShape, createBatchHttp, nullish } from "./batch-http.js";

/** Defaults of {@link anthropicBatchProvider}'s options. */
export const ANTHROPIC_BATCH_DEFAULTS = {
  name: "anthropic-batch",
  baseURL: "https://api.anthropic.com/v1",
  anthropicVersion: "2023-06-01",
  /** Anthropic requires `max_tokens`; used when a request sets no `maxOutputTokens`. */
  defaultMaxOutputTokens: 4096,
  ...BATCH_HTTP_DEFAULTS,
} as const;

/** Options of {@link anthropicBatchProvider}. */
export interface AnthropicBatchProviderOptions {
  /** Sent as `x-api-key`; never appears in errors. */
  apiKey: string;
  /** Default `https://api.anthropic.com/v1` (as `@ai-sdk/anthropic`: the `/v1` is part of it). */
  baseURL?: string;
  /** Registered name, stored in batch handles. Default `anthropic-batch`. */
  name?: string;
  /** Replaces the global fetch. */
  fetch?: typeof fetch;
  /** The `anthropic-version` header. Default `2023-06-01`. */
  anthropicVersion?: string;
  /** `max_tokens` of a request without `maxOutputTokens` (Anthropic requires one). Default 4096. */
  defaultMaxOutputTokens?: number;
  /** Bound on each HTTP request, body included. Default 60 s. */
  timeoutMs?: number;
  /** Retries after a 429/5xx (and, for reads, a timeout or network error). Default 4. */
  retries?: number;
  /** First backoff (doubling, jittered; `Retry-After` honoured). Default 1 s. */
  minRetryDelayMs?: number;
  /** Longest backoff. Default 30 s. */
  maxRetryDelayMs?: number;
}

const Options = z.object({
  apiKey: z.string().min(1),
  baseURL: z.url().default(ANTHROPIC_BATCH_DEFAULTS.baseURL),
  name: z.string().min(1).default(ANTHROPIC_BATCH_DEFAULTS.name),
  anthropicVersion: z.string().min(1).default(ANTHROPIC_BATCH_DEFAULTS.anthropicVersion),
  defaultMaxOutputTokens: positiveInt.default(ANTHROPIC_BATCH_DEFAULTS.defaultMaxOutputTokens),
  ...batchHttpOptionShape,
});

/** What Anthropic accepts as a `custom_id`: refused here rather than by a 400 for the whole batch. */
const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;

const count = z.number().int().min(0);
const MessageBatch = z.object({
  id: z.string().min(1),
  type: z.literal("message_batch"),
  processing_status: z.enum(["in_progress", "canceling", "ended"]),
  request_counts: z.object({ processing: count, succeeded: count, errored: count, canceled: count, expired: count }),
  results_url: nullish(z.string().min(1)),
});
const ResultLine = z.object({
  custom_id: z.string(),
  result: z.discriminatedUnion("type", [
    z.object({
      type: z.literal("succeeded"),
      message: z.object({
        content: z.array(z.object({ type: z.string(), text: z.string().optional() })),
        usage: z.object({
          input_tokens: count,
          output_tokens: count,
          cache_read_input_tokens: nullish(count),
          cache_creation_input_tokens: nullish(count),
        }),
      }),
    }),
    z.object({
      type: z.literal("errored"),
      error: z.object({
        type: z.string(),
        message: nullish(z.string()),
        error: nullish(z.object({ type: z.string(), message: z.string() })),
      }),
    }),
    z.object({ type: z.literal("canceled") }),
    z.object({ type: z.literal("expired") }),
  ]),
});

const NO_USAGE = { inputTokens: 0, outputTokens: 0 };

/**
 * An `AIBatchProvider` over the Anthropic Message Batches API (half price, results within 24
 * hours). Register it at orchestrator start with `registerBatchProvider`, then
 * `createAIHelper(ctx).batch.submit(name, requests)` in an async-batch stage.
 *
 * Each request becomes `params` of a Messages call (`system`, one user message, `max_tokens` =
 * `maxOutputTokens` or `defaultMaxOutputTokens`). Poll maps `in_progress` and `canceling` to
 * pending and `ended` to one result per results line: text and usage for `succeeded` (input
 * tokens include cache reads and writes; cache reads are reported as cached), the error for
 * `errored`, `canceled` and `expired`. Results are read from the batch's `results_url` when it is
 * on the base URL's origin (the API key is never sent elsewhere), else from
 * `<baseURL>/messages/batches/<id>/results`.
 * @throws ValidationError on a misspelt or invalid option, or (from submit) a `customId` Anthropic
 * would refuse (`[a-zA-Z0-9_-]{1,64}`).
 * @throws AIBatchProviderError (from submit/poll) on an HTTP error after retries, a timeout, or a
 * response that is not what the API documents.
 */
export function anthropicBatchProvider(options: AnthropicBatchProviderOptions): AIBatchProvider {
  const o = parseOptions("anthropicBatchProvider", Options, options);
  const headers = { "x-api-key": o.apiKey, "anthropic-version": o.anthropicVersion };
  const http = createBatchHttp({ ...o, label: "anthropic", headers, secret: o.apiKey });
  const origin = new URL(o.baseURL).origin;
  return {
    name: o.name,
    provider: "anthropic",
    async submit(requests, { signal }) {
      const bad = requests.filter((r) => !CUSTOM_ID.test(r.customId));
      if (bad.length > 0)
        throw new ValidationError("anthropicBatchProvider.submit", [
          {
            path: "requests.customId",
            message: `Anthropic accepts [a-zA-Z0-9_-]{1,64} only: ${bad.map((r) => JSON.stringify(r.customId)).join(", ")}`,
          },
        ]);
      const body = JSON.stringify({
        requests: requests.map((r) => ({ custom_id: r.customId, params: params(r, o.defaultMaxOutputTokens) })),
      });
      const b = await http.json(
        { method: "POST", path: "/messages/batches", signal, body: () => ({ body, contentType: "application/json" }) },
        MessageBatch,
      );
      return { batchId: b.id };
    },
    async poll(batchId, { signal }) {
      const path = `/messages/batches/${encodeURIComponent(batchId)}`;
      const b = await http.json({ method: "GET", path, signal }, MessageBatch);
      const c = b.request_counts;
      if (b.processing_status !== "ended") {
        const done = c.succeeded + c.errored + c.canceled + c.expired;
        return { status: "pending", completed: done, total: done + c.processing };
      }
      if (!b.results_url) throw http.malformed("GET", path, `batch ${b.id} has ended but has no results_url`);
      const resultsPath = new URL(b.results_url, o.baseURL).origin === origin ? b.results_url : `${path}/results`;
      const lines = await http.jsonl({ method: "GET", path: resultsPath, signal }, ResultLine);
      return { status: "completed", results: lines.map(resultOf) };
    },
  };
}

function params(r: AIBatchRequest, defaultMax: number): unknown {
  return {
    model: r.model,
    max_tokens: r.maxOutputTokens ?? defaultMax,
    ...(r.system !== undefined ? { system: r.system } : {}),
    messages: [{ role: "user", content: r.prompt }],
  };
}

function resultOf(l: z.output<typeof ResultLine>): AIBatchResult {
  const r = l.result;
  switch (r.type) {
    case "succeeded": {
      const u = r.message.usage;
      const read = u.cache_read_input_tokens ?? 0;
      const text = r.message.content.map((b) => (b.type === "text" ? (b.text ?? "") : "")).join("");
      return {
        customId: l.custom_id,
        text,
        // Anthropic's input_tokens exclude cache reads and writes; jetflow's count includes them.
        usage: {
          inputTokens: u.input_tokens + read + (u.cache_creation_input_tokens ?? 0),
          outputTokens: u.output_tokens,
          ...(u.cache_read_input_tokens != null ? { cachedInputTokens: read } : {}),
        },
      };
    }
    case "errored": {
      const e = r.error.error ?? { type: r.error.type, message: r.error.message ?? "no message" };
      return { customId: l.custom_id, error: `${e.type}: ${e.message}`, usage: NO_USAGE };
    }
    case "canceled":
      return { customId: l.custom_id, error: "canceled: the batch was canceled before this request ran", usage: NO_USAGE };
    case "expired":
      return { customId: l.custom_id, error: "expired: the batch ended before this request ran", usage: NO_USAGE };
  }
}

/**
 * `openAIBatchProvider`: the OpenAI Batch API (`/v1/files` + `/v1/batches`) as an
 * `AIBatchProvider`. Submit uploads the requests as a JSONL file and creates a
 * `/v1/chat/completions` batch; poll reads the batch and, once it is completed, its output and
 * error files, matched back to requests by `custom_id`.
 */
import { z } from "zod";
import { parseOptions } from "../contract/options.js";
import type { AIBatchProvider, AIBatchRequest, AIBatchResult, AIBatchStatus } from "./batch.js";
import { BATCH_HTTP_DEFAULTS, type BatchHttp, batchHttpOptionShape, createBatchHttp, nullish } from "./batch-http.js";

/** Defaults of {@link openAIBatchProvider}'s options. */
export const OPENAI_BATCH_DEFAULTS = {
  name: "openai-batch",
  baseURL: "https://api.openai.com/v1",
  completionWindow: "24h",
  ...BATCH_HTTP_DEFAULTS,
} as const;

/** Options of {@link openAIBatchProvider}. */
export interface OpenAIBatchProviderOptions {
  /** Sent as `Authorization: Bearer …`; never appears in errors. */
  apiKey: string;
  /** Default `https://api.openai.com/v1` (as `@ai-sdk/openai`: the `/v1` is part of it). */
  baseURL?: string;
  /** Registered name, stored in batch handles. Default `openai-batch`. */
  name?: string;
  /** Replaces the global fetch. */
  fetch?: typeof fetch;
  /** The batch's `completion_window`. Default `24h` (the only one OpenAI offers today). */
  completionWindow?: string;
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
  baseURL: z.url().default(OPENAI_BATCH_DEFAULTS.baseURL),
  name: z.string().min(1).default(OPENAI_BATCH_DEFAULTS.name),
  completionWindow: z
    .string()
    .regex(/^\d+h$/, "must be hours, like 24h")
    .default(OPENAI_BATCH_DEFAULTS.completionWindow),
  ...batchHttpOptionShape,
});

/** The one endpoint the batch lines target: `AIBatchRequest` is a prompt, i.e. a chat completion. */
const CHAT = "/v1/chat/completions";

const count = z.number().int().min(0);
const FileObject = z.object({ id: z.string().min(1) });
const Batch = z.object({
  id: z.string().min(1),
  status: z.enum(["validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"]),
  output_file_id: nullish(z.string().min(1)),
  error_file_id: nullish(z.string().min(1)),
  errors: nullish(
    z.object({
      data: nullish(z.array(z.object({ code: nullish(z.string()), message: nullish(z.string()), line: nullish(z.number()) }))),
    }),
  ),
  request_counts: nullish(z.object({ total: count, completed: count, failed: count })),
});
type Batch = z.output<typeof Batch>;
const OutputLine = z.object({
  custom_id: z.string(),
  response: nullish(z.object({ status_code: z.number().int(), body: z.unknown() })),
  error: nullish(z.object({ code: nullish(z.string()), message: nullish(z.string()) })),
});
const ChatCompletion = z.object({
  choices: z.array(z.object({ message: z.object({ content: nullish(z.string()), refusal: nullish(z.string()) }) })).min(1),
  usage: z.object({
    prompt_tokens: count,
    completion_tokens: count,
    prompt_tokens_details: nullish(z.object({ cached_tokens: nullish(count) })),
  }),
});
const ErrorBody = z.object({ error: z.object({ message: z.string() }) });

const NO_USAGE = { inputTokens: 0, outputTokens: 0 };

/**
 * An `AIBatchProvider` over the OpenAI Batch API (half price, results within the completion
 * window). Register it at orchestrator start with `registerBatchProvider`, then
 * `createAIHelper(ctx).batch.submit(name, requests)` in an async-batch stage.
 *
 * Each request becomes a `/v1/chat/completions` line (`system` and `prompt` as messages,
 * `maxOutputTokens` as `max_completion_tokens`). Poll maps `validating`, `in_progress`,
 * `finalizing` and `cancelling` to pending; `completed` to one result per output/error line
 * (text, `prompt_tokens`, `completion_tokens`, cached tokens; a failed request keeps its error);
 * `failed`, `expired` and `cancelled` to a failed batch with the reason.
 * @throws ValidationError on a misspelt or invalid option.
 * @throws AIBatchProviderError (from submit/poll) on an HTTP error after retries, a timeout, or a
 * response that is not what the API documents.
 */
export function openAIBatchProvider(options: OpenAIBatchProviderOptions): AIBatchProvider {
  const o = parseOptions("openAIBatchProvider", Options, options);
  const http = createBatchHttp({ ...o, label: "openai", headers: { authorization: `Bearer ${o.apiKey}` }, secret: o.apiKey });
  return {
    name: o.name,
    provider: "openai",
    async submit(requests, { signal }) {
      const jsonl = requests.map((r) => JSON.stringify(line(r))).join("\n") + "\n";
      const file = await http.json(
        {
          method: "POST",
          path: "/files",
          signal,
          body: () => {
            const form = new FormData();
            form.append("purpose", "batch");
            form.append("file", new Blob([jsonl], { type: "application/jsonl" }), "jetflow-batch.jsonl");
            return { body: form }; // fetch sets the multipart content type with its boundary
          },
        },
        FileObject,
      );
      const batch = await http.json(
        {
          method: "POST",
          path: "/batches",
          signal,
          body: () => ({
            body: JSON.stringify({ input_file_id: file.id, endpoint: CHAT, completion_window: o.completionWindow }),
            contentType: "application/json",
          }),
        },
        Batch,
      );
      return { batchId: batch.id };
    },
    async poll(batchId, { signal }) {
      const b = await http.json({ method: "GET", path: `/batches/${encodeURIComponent(batchId)}`, signal }, Batch);
      return statusOf(b, http, signal);
    },
  };
}

function line(r: AIBatchRequest): unknown {
  const messages = [...(r.system !== undefined ? [{ role: "system", content: r.system }] : []), { role: "user", content: r.prompt }];
  const body = { model: r.model, messages, ...(r.maxOutputTokens !== undefined ? { max_completion_tokens: r.maxOutputTokens } : {}) };
  return { custom_id: r.customId, method: "POST", url: CHAT, body };
}

async function statusOf(b: Batch, http: BatchHttp, signal: AbortSignal | undefined): Promise<AIBatchStatus> {
  const counts = b.request_counts;
  switch (b.status) {
    case "validating":
    case "in_progress":
    case "finalizing":
    case "cancelling": // becomes cancelled; its partial output is not collected
      return { status: "pending", ...(counts ? { completed: counts.completed + counts.failed, total: counts.total } : {}) };
    case "failed": {
      const why = (b.errors?.data ?? []).map((e) => `${e.line != null ? `line ${e.line}: ` : ""}${e.message ?? e.code ?? "unknown error"}`);
      return { status: "failed", error: `OpenAI batch ${b.id} failed: ${why.join("; ") || "no reason given"}` };
    }
    case "expired":
    case "cancelled": {
      const done = counts ? ` (${counts.completed} of ${counts.total} requests had completed)` : "";
      return {
        status: "failed",
        error: `OpenAI batch ${b.id} ${b.status === "expired" ? "expired before completing" : "was cancelled"}${done}`,
      };
    }
    case "completed": {
      const results: AIBatchResult[] = [];
      for (const fileId of [b.output_file_id, b.error_file_id]) {
        if (!fileId) continue;
        const path = `/files/${encodeURIComponent(fileId)}/content`;
        const lines = await http.jsonl({ method: "GET", path, signal }, OutputLine);
        for (const l of lines) results.push(resultOf(l, (detail) => http.malformed("GET", path, `custom_id ${l.custom_id}: ${detail}`)));
      }
      return { status: "completed", results };
    }
  }
}

function resultOf(l: z.output<typeof OutputLine>, malformed: (detail: string) => Error): AIBatchResult {
  const customId = l.custom_id;
  if (l.response && l.response.status_code >= 200 && l.response.status_code < 300) {
    const parsed = ChatCompletion.safeParse(l.response.body);
    if (!parsed.success)
      throw malformed(
        `not a chat completion: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
      );
    const { choices, usage } = parsed.data;
    const cached = usage.prompt_tokens_details?.cached_tokens;
    const msg = choices[0]!.message;
    return {
      customId,
      ...(typeof msg.content === "string" ? { text: msg.content } : { error: `refused: ${msg.refusal ?? "no content"}` }),
      usage: {
        inputTokens: usage.prompt_tokens,
        outputTokens: usage.completion_tokens,
        ...(cached != null ? { cachedInputTokens: cached } : {}),
      },
    };
  }
  if (l.response) {
    const body = ErrorBody.safeParse(l.response.body);
    return {
      customId,
      error: `HTTP ${l.response.status_code}: ${body.success ? body.data.error.message : "no error message"}`,
      usage: NO_USAGE,
    };
  }
  if (l.error) return { customId, error: [l.error.code, l.error.message].filter(Boolean).join(": ") || "unknown error", usage: NO_USAGE };
  throw malformed("neither response nor error");
}

/**
 * The HTTP layer the shipped batch clients (OpenAI, Anthropic) share: global `fetch`, every
 * request bounded by a timeout, 429/5xx retried with bounded exponential backoff (honouring
 * `Retry-After`), every answer validated with zod. Failures are `AIBatchProviderError`s naming
 * the provider and endpoint, with the provider's own message and never the API key.
 *
 * Hand-written rather than p-retry: `src/` imports only zod, @opentelemetry/api and node
 * builtins (CONTRIBUTING), and the loop is a dozen lines.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { callback, nonNegativeInt, positiveInt } from "../contract/options.js";
import { issuesFromZod } from "../contract/validation.js";
import { AIBatchProviderError } from "./errors.js";

/** Defaults of the HTTP knobs every batch client takes. */
export const BATCH_HTTP_DEFAULTS = {
  /** Bound on one request, body included. */
  timeoutMs: 60_000,
  /** Retries after a 429/5xx (and, for reads, a timeout or network error). */
  retries: 4,
  /** First backoff; doubles per retry, jittered, at most `maxRetryDelayMs`. */
  minRetryDelayMs: 1_000,
  maxRetryDelayMs: 30_000,
} as const;

/** Zod shape of the HTTP knobs, merged into each client's options schema. */
export const batchHttpOptionShape = {
  timeoutMs: positiveInt.default(BATCH_HTTP_DEFAULTS.timeoutMs),
  retries: nonNegativeInt.max(10).default(BATCH_HTTP_DEFAULTS.retries),
  minRetryDelayMs: nonNegativeInt.default(BATCH_HTTP_DEFAULTS.minRetryDelayMs),
  maxRetryDelayMs: nonNegativeInt.default(BATCH_HTTP_DEFAULTS.maxRetryDelayMs),
  /** Replaces the global fetch (a proxy agent, a test double). */
  fetch: callback<typeof fetch>().optional(),
};

interface HttpConfig {
  /** `openai` / `anthropic`: names the provider in errors. */
  label: string;
  baseURL: string;
  headers: Record<string, string>;
  /** Scrubbed from every message that could echo it. */
  secret: string;
  timeoutMs: number;
  retries: number;
  minRetryDelayMs: number;
  maxRetryDelayMs: number;
  fetch?: typeof fetch | undefined;
}

interface Send {
  method: "GET" | "POST";
  /** A path under baseURL (`/batches`) or an absolute URL. */
  path: string;
  /** Built per attempt: a retried request sends a fresh body. */
  body?: () => { body: string | FormData; contentType?: string };
  signal?: AbortSignal | undefined;
}

/** The requests a batch client makes. */
export interface BatchHttp {
  /** Absolute URL of `path` under the base URL. */
  url(path: string): string;
  /** `METHOD /path` as errors name it. */
  endpoint(method: string, path: string): string;
  json<S extends z.ZodType>(req: Send, schema: S): Promise<z.output<S>>;
  /** A JSONL body, each non-empty line validated with `line`. */
  jsonl<S extends z.ZodType>(req: Send, line: S): Promise<z.output<S>[]>;
  /** Fails with a `malformed` error naming the endpoint (for checks zod cannot express). */
  malformed(method: string, path: string, detail: string): AIBatchProviderError;
}

export function createBatchHttp(cfg: HttpConfig): BatchHttp {
  const doFetch = cfg.fetch ?? globalThis.fetch;
  const base = cfg.baseURL.replace(/\/+$/, "");
  const url = (path: string): string => (/^https?:\/\//.test(path) ? path : `${base}${path}`);
  const endpoint = (method: string, path: string): string => `${method} ${new URL(url(path)).pathname}`;
  const scrub = (s: string): string => (cfg.secret ? s.split(cfg.secret).join("[redacted]") : s);
  const malformed = (method: string, path: string, detail: string) =>
    new AIBatchProviderError(cfg.label, endpoint(method, path), "malformed", scrub(detail));

  async function send(req: Send): Promise<string> {
    const ep = endpoint(req.method, req.path);
    // Only reads are retried after a timeout or a dropped connection: a POST that may have
    // arrived could create a second batch. A 429/5xx answer means it was not taken.
    const idempotent = req.method === "GET";
    for (let attempt = 0; ; attempt++) {
      req.signal?.throwIfAborted();
      const timeout = AbortSignal.timeout(cfg.timeoutMs);
      const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
      const b = req.body?.();
      const headers = { ...cfg.headers, ...(b?.contentType ? { "content-type": b.contentType } : {}) };
      let res: Response;
      let text: string;
      try {
        res = await doFetch(url(req.path), { method: req.method, headers, ...(b ? { body: b.body } : {}), signal });
        text = await res.text();
      } catch (err) {
        if (req.signal?.aborted) throw req.signal.reason ?? err;
        const kind = timeout.aborted ? "timeout" : "network";
        const detail = kind === "timeout" ? `no answer within ${cfg.timeoutMs} ms` : scrub(causeOf(err));
        if (idempotent && attempt < cfg.retries) {
          await backoff(attempt, null, req.signal);
          continue;
        }
        throw new AIBatchProviderError(cfg.label, ep, kind, detail);
      }
      if (res.ok) return text;
      if ((res.status === 429 || res.status >= 500) && attempt < cfg.retries) {
        await backoff(attempt, res.headers.get("retry-after"), req.signal);
        continue;
      }
      throw new AIBatchProviderError(cfg.label, ep, "http", scrub(providerMessage(text)), res.status);
    }
  }

  async function backoff(attempt: number, retryAfter: string | null, signal: AbortSignal | undefined): Promise<void> {
    const exp = Math.min(cfg.maxRetryDelayMs, cfg.minRetryDelayMs * 2 ** attempt);
    const jittered = exp / 2 + Math.random() * (exp / 2);
    const asked = retryAfterMs(retryAfter);
    await sleep(Math.min(cfg.maxRetryDelayMs, Math.max(jittered, asked)), undefined, signal ? { signal } : {});
  }

  function check<S extends z.ZodType>(schema: S, raw: unknown, method: string, path: string, where: string): z.output<S> {
    const r = schema.safeParse(raw);
    if (r.success) return r.data;
    const issues = issuesFromZod(r.error).map((i) => `${i.path || "(root)"}: ${i.message}`);
    throw malformed(method, path, `${where}${issues.slice(0, 5).join("; ")}`);
  }

  return {
    url,
    endpoint,
    malformed,
    async json(req, schema) {
      const text = await send(req);
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        throw malformed(req.method, req.path, `not JSON: ${JSON.stringify(text.slice(0, 200))}`);
      }
      return check(schema, raw, req.method, req.path, "");
    },
    async jsonl(req, line) {
      const text = await send(req);
      const out: z.output<typeof line>[] = [];
      const lines = text.split("\n");
      for (let i = 0; i < lines.length; i++) {
        const l = lines[i]!.trim();
        if (l === "") continue;
        let raw: unknown;
        try {
          raw = JSON.parse(l);
        } catch {
          throw malformed(req.method, req.path, `line ${i + 1} is not JSON: ${JSON.stringify(l.slice(0, 200))}`);
        }
        out.push(check(line, raw, req.method, req.path, `line ${i + 1}: `));
      }
      return out;
    },
  };
}

/** The provider's own error message: OpenAI `{error:{message}}`, Anthropic `{type:"error",error:{message}}`. */
function providerMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { error?: { message?: unknown } } | null)?.error?.message;
    if (typeof m === "string" && m !== "") return m;
  } catch {
    // Not JSON (a proxy's HTML page): the start of the body says more than nothing.
  }
  return text.trim().slice(0, 300) || "(empty body)";
}

function causeOf(err: unknown): string {
  const e = err as { message?: unknown; cause?: { message?: unknown } };
  const cause = typeof e?.cause?.message === "string" ? `: ${e.cause.message}` : "";
  return `${typeof e?.message === "string" ? e.message : String(err)}${cause}`;
}

/** `Retry-After` in seconds or as an HTTP date; 0 when absent or unreadable. */
function retryAfterMs(v: string | null): number {
  if (!v) return 0;
  const secs = Number(v);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}

/** A field the provider may leave out or send as null (unknown fields pass: providers add fields). */
export const nullish = <T extends z.ZodType>(t: T) => t.nullable().optional();

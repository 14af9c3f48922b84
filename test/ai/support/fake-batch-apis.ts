/**
 * Local stand-ins for the OpenAI Batch API and the Anthropic Message Batches API on node:http.
 * Strict: a request that the real API would refuse (wrong auth header, content type, path, JSONL
 * shape) is answered 400 and listed in `violations`, which every test asserts empty. Batch
 * statuses are served from a script, one per poll, the last one repeating.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A canned answer served once to the first request it matches, before normal routing. */
export interface Fault {
  method: string;
  path: RegExp;
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  /** Never answer (the client's timeout must end the request). */
  hang?: boolean;
}

/** One submitted request as the fake understood it. */
export interface SeenRequest {
  customId: string;
  model: string;
  system?: string;
  prompt: string;
  maxTokens?: number;
}

abstract class FakeApi {
  readonly violations: string[] = [];
  /** `METHOD /path` of every request, in order. */
  readonly log: string[] = [];
  faults: Fault[] = [];
  private server: Server | undefined;
  url = "";

  constructor(readonly apiKey: string) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.serve(req, res).catch((err: unknown) => {
        this.violations.push(`handler crashed: ${String(err)}`);
        if (!res.headersSent) this.send(res, 500, { error: { message: "fake crashed" } });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  count(entry: string): number {
    return this.log.filter((l) => l === entry).length;
  }

  protected abstract route(method: string, path: string, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void>;
  protected abstract authorized(req: IncomingMessage): string | null;
  protected abstract errorBody(message: string): unknown;

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const method = req.method ?? "";
    const path = new URL(req.url ?? "/", "http://x").pathname;
    this.log.push(`${method} ${path}`);
    const fault = this.faults.findIndex((f) => f.method === method && f.path.test(path));
    if (fault >= 0) {
      const [f] = this.faults.splice(fault, 1);
      if (f!.hang) return; // left open; closeAllConnections ends it
      res.writeHead(f!.status ?? 200, { "content-type": "application/json", ...f!.headers });
      res.end(f!.body ?? "");
      return;
    }
    const authError = this.authorized(req);
    if (authError) return this.send(res, 401, this.errorBody(authError));
    await this.route(method, path, req, Buffer.concat(chunks), res);
  }

  protected refuse(res: ServerResponse, why: string): void {
    this.violations.push(why);
    this.send(res, 400, this.errorBody(why));
  }

  protected send(res: ServerResponse, status: number, body: unknown, contentType = "application/json"): void {
    res.writeHead(status, { "content-type": contentType });
    res.end(typeof body === "string" ? body : JSON.stringify(body));
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Script of one OpenAI batch: its statuses (one per poll) and how each request is answered. */
export interface OpenAIPlan {
  statuses: string[];
  /** Extra fields of the batch object (e.g. `errors` of a failed batch). */
  extra?: Record<string, unknown>;
  /** A request's line: in the output file (default: a completion) or in the error file. */
  answer?: (r: SeenRequest) => { file: "output" | "error"; line: Record<string, unknown> };
}

/** A completion line as OpenAI writes it to the output file. */
export function openAICompletionLine(r: SeenRequest, usage = { prompt: 1000, completion: 100, cached: 0 }): Record<string, unknown> {
  return {
    id: `batch_req_${r.customId}`,
    custom_id: r.customId,
    response: {
      status_code: 200,
      request_id: `req_${r.customId}`,
      body: {
        id: `chatcmpl-${r.customId}`,
        object: "chat.completion",
        model: `${r.model}-2024-07-18`,
        choices: [{ index: 0, message: { role: "assistant", content: `summary of ${r.prompt}`, refusal: null }, finish_reason: "stop" }],
        usage: {
          prompt_tokens: usage.prompt,
          completion_tokens: usage.completion,
          total_tokens: usage.prompt + usage.completion,
          prompt_tokens_details: { cached_tokens: usage.cached },
        },
      },
    },
    error: null,
  };
}

/** The OpenAI Files + Batches API. */
export class FakeOpenAI extends FakeApi {
  plan: OpenAIPlan = { statuses: ["in_progress", "completed"] };
  readonly files = new Map<string, { filename: string; requests: SeenRequest[] } | { content: string }>();
  readonly batches = new Map<string, { plan: OpenAIPlan; inputFileId: string; polls: number }>();

  protected authorized(req: IncomingMessage): string | null {
    return req.headers.authorization === `Bearer ${this.apiKey}` ? null : "Incorrect API key provided";
  }
  protected errorBody(message: string): unknown {
    return { error: { message, type: "invalid_request_error", param: null, code: null } };
  }

  protected async route(method: string, path: string, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    const ct = req.headers["content-type"] ?? "";
    let m: RegExpMatchArray | null;
    if (method === "POST" && path === "/v1/files") {
      if (!ct.startsWith("multipart/form-data; boundary=")) return this.refuse(res, `files: content-type ${ct}`);
      const form = await new Response(body, { headers: { "content-type": ct } }).formData();
      const file = form.get("file");
      if (form.get("purpose") !== "batch") return this.refuse(res, `files: purpose ${String(form.get("purpose"))}`);
      if (!(file instanceof Blob) || !("name" in file) || !String(file.name).endsWith(".jsonl"))
        return this.refuse(res, "files: no .jsonl file part");
      const requests: SeenRequest[] = [];
      for (const l of (await file.text()).split("\n").filter((x) => x.trim() !== "")) {
        const line = JSON.parse(l) as Record<string, unknown>;
        const b = line.body;
        if (typeof line.custom_id !== "string" || line.method !== "POST" || line.url !== "/v1/chat/completions" || !isObj(b))
          return this.refuse(res, `files: bad line ${l}`);
        const msgs = b.messages as { role: string; content: string }[];
        const user = msgs?.at(-1);
        if (typeof b.model !== "string" || !Array.isArray(msgs) || user?.role !== "user") return this.refuse(res, `files: bad body ${l}`);
        const system = msgs.length === 2 && msgs[0]!.role === "system" ? msgs[0]!.content : undefined;
        if (msgs.length > (system === undefined ? 1 : 2)) return this.refuse(res, `files: bad messages ${l}`);
        if (b.max_tokens !== undefined) return this.refuse(res, "files: max_tokens is deprecated for these models");
        const maxTokens = b.max_completion_tokens as number | undefined;
        requests.push({
          customId: line.custom_id,
          model: b.model,
          prompt: user.content,
          ...(system ? { system } : {}),
          ...(maxTokens ? { maxTokens } : {}),
        });
      }
      const id = `file-${this.files.size + 1}`;
      this.files.set(id, { filename: String((file as File).name), requests });
      return this.send(res, 200, { id, object: "file", bytes: file.size, created_at: 1, filename: (file as File).name, purpose: "batch" });
    }
    if (method === "POST" && path === "/v1/batches") {
      if (ct !== "application/json") return this.refuse(res, `batches: content-type ${ct}`);
      const b = JSON.parse(body.toString()) as Record<string, unknown>;
      const input = this.files.get(String(b.input_file_id));
      if (!input || !("requests" in input)) return this.refuse(res, `batches: unknown input_file_id ${String(b.input_file_id)}`);
      if (b.endpoint !== "/v1/chat/completions" || b.completion_window !== "24h") return this.refuse(res, `batches: ${JSON.stringify(b)}`);
      const id = `batch_${this.batches.size + 1}`;
      this.batches.set(id, { plan: this.plan, inputFileId: String(b.input_file_id), polls: 0 });
      return this.send(res, 200, this.batchObject(id, "validating"));
    }
    if (method === "GET" && (m = /^\/v1\/batches\/([^/]+)$/.exec(path))) {
      const b = this.batches.get(m[1]!);
      if (!b) return this.send(res, 404, this.errorBody(`No batch found with id '${m[1]}'.`));
      const status = b.plan.statuses[Math.min(b.polls++, b.plan.statuses.length - 1)]!;
      return this.send(res, 200, this.batchObject(m[1]!, status));
    }
    if (method === "GET" && (m = /^\/v1\/files\/([^/]+)\/content$/.exec(path))) {
      const f = this.files.get(m[1]!);
      if (!f || !("content" in f)) return this.send(res, 404, this.errorBody(`No such File object: ${m[1]}`));
      return this.send(res, 200, f.content, "application/octet-stream");
    }
    this.refuse(res, `no route ${method} ${path}`);
  }

  private batchObject(id: string, status: string): Record<string, unknown> {
    const b = this.batches.get(id)!;
    const input = this.files.get(b.inputFileId) as { requests: SeenRequest[] };
    const total = input.requests.length;
    const done = status === "completed";
    let output_file_id: string | null = null;
    let error_file_id: string | null = null;
    if (done) {
      const lines = input.requests.map((r) => b.plan.answer?.(r) ?? { file: "output" as const, line: openAICompletionLine(r) });
      const write = (which: "output" | "error"): string | null => {
        const mine = lines.filter((l) => l.file === which);
        if (mine.length === 0) return null;
        const fid = `file-${which}-${id}`;
        this.files.set(fid, { content: mine.map((l) => JSON.stringify(l.line)).join("\n") + "\n" });
        return fid;
      };
      output_file_id = write("output");
      error_file_id = write("error");
    }
    return {
      id,
      object: "batch",
      endpoint: "/v1/chat/completions",
      errors: null,
      input_file_id: b.inputFileId,
      completion_window: "24h",
      status,
      output_file_id,
      error_file_id,
      created_at: 1,
      request_counts: { total, completed: done ? total : 0, failed: 0 },
      metadata: null,
      ...b.plan.extra,
    };
  }
}

/** Script of one Anthropic batch: processing statuses (one per poll) and each request's result. */
export interface AnthropicPlan {
  statuses: ("in_progress" | "canceling" | "ended")[];
  answer?: (r: SeenRequest) => Record<string, unknown>;
}

/** A `succeeded` result as Anthropic writes it. */
export function anthropicSucceeded(r: SeenRequest, usage: Record<string, number> = { input_tokens: 1000, output_tokens: 100 }) {
  return {
    type: "succeeded",
    message: {
      id: `msg_${r.customId}`,
      type: "message",
      role: "assistant",
      model: r.model,
      content: [{ type: "text", text: `summary of ${r.prompt}` }],
      stop_reason: "end_turn",
      usage,
    },
  };
}

/** The Anthropic Message Batches API. */
export class FakeAnthropic extends FakeApi {
  plan: AnthropicPlan = { statuses: ["in_progress", "ended"] };
  readonly batches = new Map<string, { plan: AnthropicPlan; requests: SeenRequest[]; polls: number }>();

  protected authorized(req: IncomingMessage): string | null {
    if (req.headers["x-api-key"] !== this.apiKey) return "invalid x-api-key";
    if (req.headers["anthropic-version"] !== "2023-06-01") return "anthropic-version header is required";
    return null;
  }
  protected errorBody(message: string): unknown {
    return { type: "error", error: { type: "invalid_request_error", message } };
  }

  protected async route(method: string, path: string, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    let m: RegExpMatchArray | null;
    if (method === "POST" && path === "/v1/messages/batches") {
      if (req.headers["content-type"] !== "application/json")
        return this.refuse(res, `create: content-type ${req.headers["content-type"]}`);
      const b = JSON.parse(body.toString()) as { requests?: unknown };
      if (!Array.isArray(b.requests) || b.requests.length === 0) return this.refuse(res, "create: requests must be a non-empty array");
      const requests: SeenRequest[] = [];
      for (const r of b.requests as { custom_id?: unknown; params?: Record<string, unknown> }[]) {
        const p = r.params;
        const msgs = p?.messages as { role: string; content: string }[] | undefined;
        if (typeof r.custom_id !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(r.custom_id))
          return this.refuse(res, `create: custom_id ${String(r.custom_id)}`);
        if (!p || typeof p.model !== "string" || !Number.isInteger(p.max_tokens) || (p.max_tokens as number) < 1)
          return this.refuse(res, `create: params ${JSON.stringify(p)}`);
        if (!Array.isArray(msgs) || msgs.length !== 1 || msgs[0]!.role !== "user")
          return this.refuse(res, `create: messages ${JSON.stringify(msgs)}`);
        if (p.system !== undefined && typeof p.system !== "string") return this.refuse(res, "create: system");
        requests.push({
          customId: r.custom_id,
          model: p.model,
          prompt: msgs[0]!.content,
          maxTokens: p.max_tokens as number,
          ...(typeof p.system === "string" ? { system: p.system } : {}),
        });
      }
      const id = `msgbatch_${this.batches.size + 1}`;
      this.batches.set(id, { plan: this.plan, requests, polls: 0 });
      return this.send(res, 200, this.batchObject(id, "in_progress"));
    }
    if (method === "GET" && (m = /^\/v1\/messages\/batches\/([^/]+)$/.exec(path))) {
      const b = this.batches.get(m[1]!);
      if (!b) return this.send(res, 404, this.errorBody(`batch ${m[1]} not found`));
      return this.send(res, 200, this.batchObject(m[1]!, b.plan.statuses[Math.min(b.polls++, b.plan.statuses.length - 1)]!));
    }
    if (method === "GET" && (m = /^\/v1\/messages\/batches\/([^/]+)\/results$/.exec(path))) {
      const b = this.batches.get(m[1]!);
      if (!b) return this.send(res, 404, this.errorBody(`batch ${m[1]} not found`));
      const lines = b.requests.map((r) => ({ custom_id: r.customId, result: b.plan.answer?.(r) ?? anthropicSucceeded(r) }));
      return this.send(res, 200, lines.map((l) => JSON.stringify(l)).join("\n") + "\n", "application/binary");
    }
    this.refuse(res, `no route ${method} ${path}`);
  }

  private batchObject(id: string, status: string): Record<string, unknown> {
    const b = this.batches.get(id)!;
    const ended = status === "ended";
    return {
      id,
      type: "message_batch",
      processing_status: status,
      request_counts: {
        processing: ended ? 0 : b.requests.length,
        succeeded: ended ? b.requests.length : 0,
        errored: 0,
        canceled: 0,
        expired: 0,
      },
      ended_at: ended ? "2025-01-01T00:00:00Z" : null,
      created_at: "2025-01-01T00:00:00Z",
      expires_at: "2025-01-02T00:00:00Z",
      cancel_initiated_at: null,
      results_url: ended ? `${this.url}/v1/messages/batches/${id}/results` : null,
    };
  }
}

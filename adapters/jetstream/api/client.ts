import { RequestError, TimeoutError, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { injectTraceHeaders } from "../../../src/contract/trace-headers.js";
import { SpanKind, inSpan } from "../../../src/contract/spans.js";
import { JetflowError } from "../../../src/contract/errors.js";
import type { JetflowErrorCode } from "../../../src/contract/errors.js";
import { API_SCHEMAS, ApiErrorBody, apiSubject } from "../../../src/contract/api-messages.js";
import type { ApiEndpoint, ApiReply, ApiRequest } from "../../../src/contract/api-messages.js";
import { parseClientOptions } from "../options.js";

/**
 * An error reply from the jetflow API, with the server's symbolic code and field issues.
 * `code` VALIDATION (400) names the bad fields in `issues`; UNAVAILABLE (503) means a backing
 * service is down and the call may be retried; INTERNAL (500) carries a `correlationId` under
 * which the server logged the full error.
 */
export class ApiError extends JetflowError {
  readonly status: number;
  readonly issues: { path: string; message: string }[];
  readonly correlationId: string | undefined;
  constructor(code: string, message: string, status: number, issues: { path: string; message: string }[] = [], correlationId?: string) {
    super(code as JetflowErrorCode, message, issues);
    this.status = status;
    this.issues = issues;
    this.correlationId = correlationId;
  }
  /** True when retrying later may succeed (the server or a service behind it is unavailable). */
  get retryable(): boolean {
    return this.code === "UNAVAILABLE";
  }
}

/** Options of {@link createJetflowClient}: subject prefix and per-request timeout. */
export interface JetflowClientOptions {
  /** Subject prefix of the API. Default "jetflow". */
  prefix?: string;
  /** Bound on every request. Default 10 s. */
  timeoutMs?: number;
}

/** Typed client of the submission API over NATS request/reply. */
export interface JetflowClient {
  call<E extends ApiEndpoint>(endpoint: E, request: ApiRequest<E>): Promise<ApiReply<E>>;
  createRun(request: ApiRequest<"runs.create">): Promise<ApiReply<"runs.create">>;
  getRun(request: ApiRequest<"runs.get">): Promise<ApiReply<"runs.get">>;
  listRuns(request?: ApiRequest<"runs.list">): Promise<ApiReply<"runs.list">>;
  cancelRun(request: ApiRequest<"runs.cancel">): Promise<ApiReply<"runs.cancel">>;
  rerun(request: ApiRequest<"runs.rerun">): Promise<ApiReply<"runs.rerun">>;
  annotate(request: ApiRequest<"runs.annotate">): Promise<ApiReply<"runs.annotate">>;
  stats(): Promise<ApiReply<"stats">>;
  /** The worker registry as the orchestrator sees it (docs/fleet.md). */
  listWorkers(request?: ApiRequest<"workers.list">): Promise<ApiReply<"workers.list">>;
  /** A presigned GET URL of one of a run's artifacts. */
  artifactUrl(request: ApiRequest<"runs.artifact">): Promise<ApiReply<"runs.artifact">>;
  /** Outbox rows that exhausted their publish retries. */
  deadLetters(request?: ApiRequest<"deadLetters.list">): Promise<ApiReply<"deadLetters.list">>;
  /** A run's AI cost: total, per stage, per model. */
  runCosts(request: ApiRequest<"runs.costs">): Promise<ApiReply<"runs.costs">>;
  /** AI costs since an instant (default 7 days), grouped by workflow, model, stage or run. */
  costs(request?: ApiRequest<"costs.summary">): Promise<ApiReply<"costs.summary">>;
}

/** Creates a typed client of the submission API (`jetflow.api.*` request/reply) on an open NATS connection; the caller closes the connection. */
export function createJetflowClient(nc: NatsConnection, options: JetflowClientOptions = {}): JetflowClient {
  const { prefix, timeoutMs: timeout } = parseClientOptions(options);

  /** One request in a CLIENT span whose context travels in the request headers (the server span is its child). */
  function call<E extends ApiEndpoint>(endpoint: E, request: ApiRequest<E>): Promise<ApiReply<E>> {
    const subject = apiSubject(endpoint, prefix);
    const attributes = {
      "rpc.system": "jetflow",
      "rpc.method": endpoint,
      "messaging.system": "nats",
      "messaging.destination.name": subject,
    };
    return inSpan(`jetflow.api ${endpoint}`, { kind: SpanKind.CLIENT, attributes }, () => send(endpoint, subject, request));
  }

  async function send<E extends ApiEndpoint>(endpoint: E, subject: string, request: ApiRequest<E>): Promise<ApiReply<E>> {
    const headers = natsHeaders();
    injectTraceHeaders(headers);
    let msg;
    try {
      msg = await nc.request(subject, JSON.stringify(request ?? {}), { timeout, ...(headers.keys().length > 0 ? { headers } : {}) });
    } catch (err) {
      throw unanswered(err, subject, timeout);
    }
    const status = msg.headers?.get("Nats-Service-Error-Code");
    if (status) {
      const description = msg.headers?.get("Nats-Service-Error") ?? "";
      const body = ApiErrorBody.safeParse(safeJson(msg.data));
      if (body.success) {
        const { code, message, issues, correlationId } = body.data.error;
        throw new ApiError(code, message, Number(status), issues ?? [], correlationId);
      }
      throw new ApiError("INTERNAL", description || `error ${status}`, Number(status));
    }
    const parsed = API_SCHEMAS[endpoint].reply.safeParse(safeJson(msg.data));
    if (!parsed.success) {
      throw new ApiError("INTERNAL", `malformed ${endpoint} reply: ${parsed.error.message}`, 502);
    }
    return parsed.data as ApiReply<E>;
  }

  return {
    call,
    createRun: (r) => call("runs.create", r),
    getRun: (r) => call("runs.get", r),
    listRuns: (r) => call("runs.list", r ?? {}),
    cancelRun: (r) => call("runs.cancel", r),
    rerun: (r) => call("runs.rerun", r),
    annotate: (r) => call("runs.annotate", r),
    stats: () => call("stats", {}),
    listWorkers: (r) => call("workers.list", r ?? {}),
    artifactUrl: (r) => call("runs.artifact", r),
    deadLetters: (r) => call("deadLetters.list", r ?? {}),
    runCosts: (r) => call("runs.costs", r),
    costs: (r) => call("costs.summary", r ?? {}),
  };
}

/**
 * A request nobody answered, said in the user's terms: "no responders" means no orchestrator
 * subscribes to the subject (none running on this NATS, or another --prefix), a timeout that
 * one is there but did not reply in time. Both are UNAVAILABLE (retry may succeed).
 */
function unanswered(err: unknown, subject: string, timeoutMs: number): unknown {
  if (err instanceof RequestError && err.isNoResponders()) {
    return new ApiError(
      "UNAVAILABLE",
      `no orchestrator is serving ${subject} on this NATS server: start one with \`jetflow orchestrator --config orchestrator.json\` (or \`jetflow dev\` locally), and check that --prefix matches its nats.prefix`,
      503,
    );
  }
  if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) {
    return new ApiError(
      "UNAVAILABLE",
      `no reply to ${subject} within ${timeoutMs} ms: the orchestrator is busy or unreachable (raise --timeout?)`,
      503,
    );
  }
  return err;
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined; // the schema check that follows reports the malformed body
  }
}

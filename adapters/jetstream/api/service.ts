import type { AICallSummaryQuery, AICallSummaryRow } from "../../../src/ports/persistence.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { Svcm } from "@nats-io/services";
import type { Service, ServiceMsg } from "@nats-io/services";
import { JetflowError, ValidationError } from "../../../src/contract/errors.js";
import { serveRequest } from "../../../src/contract/guarded-reply.js";
import type { Kernel, RunView } from "../../../src/kernel/types.js";
import type { JobTransport } from "../../../src/ports/job-transport.js";
import type { Logger } from "../../../src/ports/logger.js";
import type { ActivityTaskRecord } from "../../../src/ports/activity-task-store.js";
import type { ArtifactRecord, OutboxRecord } from "../../../src/ports/records.js";
import type { PresignedUrl } from "../../../src/ports/presigner.js";
import { API_ENDPOINTS, API_SCHEMAS, apiSubject } from "../../../src/contract/api-messages.js";
import type { ApiEndpoint, StageWaitJson, UnservedTaskJson } from "../../../src/contract/api-messages.js";
import { listWorkers } from "../fleet/registry.js";
import { createHandlers } from "./handlers.js";
import { extractTraceHeaders } from "../../../src/contract/trace-headers.js";
import type { Span } from "@opentelemetry/api";
import { SpanKind, inSpan, recordSpanError } from "../../../src/contract/spans.js";
import { issuesFromZod } from "../../../src/contract/validation.js";
import { parseApiServiceOptions } from "../options.js";

/** Options of {@link startApiService}: the kernel it answers from, subject prefix, service identity and stats sources. */
export interface ApiServiceOptions {
  kernel: Kernel;
  /** Subject prefix; endpoints listen on `<prefix>.api.<endpoint>`. Default "jetflow". */
  prefix?: string;
  /** Service name announced to `$SRV.PING/INFO/STATS`. Default "jetflow". */
  name?: string;
  version?: string;
  /** Reported as `jobsQueued` by the stats endpoint. */
  jobTransport?: Pick<JobTransport, "depth">;
  /** Reported as `unservedTasks` by the stats endpoint (remote tasks no live worker can serve). */
  unservedTasks?: () => UnservedTaskJson[];
  /** Why a run's stages wait beyond their limits, added to `runs.get`'s `waiting` (see createTaskWaitExplainer, createJobWaitExplainer). */
  taskWaits?: (view: RunView) => Promise<StageWaitJson[]>;
  /** A run's remote activity tasks, for `runs.get` with `tasks` (the orchestrator's task store). */
  runTasks?: (workflowRunId: string) => Promise<ActivityTaskRecord[]>;
  /** A run's stored artifacts, for `runs.get` with `artifacts` and for `runs.artifact`. */
  runArtifacts?: (workflowRunId: string) => Promise<ArtifactRecord[]>;
  /** Presigns a GET of an object-store key, for `runs.artifact` (without it the endpoint answers UNAVAILABLE). */
  presignArtifact?: (key: string, expiresInSec: number) => Promise<PresignedUrl>;
  /** Dead-lettered outbox rows, for `deadLetters.list`. */
  deadLetters?: (limit: number) => Promise<OutboxRecord[]>;
  /** AI call totals, for `runs.costs` and `costs.summary` (without it they answer UNAVAILABLE). */
  aiCosts?: (q: AICallSummaryQuery) => Promise<AICallSummaryRow[]>;
  logger?: Logger;
}

/** A running submission API service; `stop()` drains it. */
export interface ApiService {
  /** Instance id announced to service discovery. */
  readonly id: string;
  /** Stops answering and drains the endpoints; in-flight requests finish. */
  stop(): Promise<void>;
}

class BadRequestError extends JetflowError {
  constructor(message: string) {
    super("VALIDATION", message);
  }
}

/**
 * Starts the submission API as a NATS micro-service (discoverable with `$SRV.PING`). Several
 * orchestrators may run it at once: endpoints share a queue group, so each request is answered once.
 */
export async function startApiService(nc: NatsConnection, options: ApiServiceOptions): Promise<ApiService> {
  const opts = parseApiServiceOptions(options);
  const { prefix, logger, version } = opts;
  const svcm = new Svcm(nc as never);
  const service: Service = await svcm.add({
    name: opts.name,
    version,
    description: "jetflow submission API: create, query, cancel and rerun workflow runs, read their artifacts",
    metadata: { prefix },
  });
  const handlers = createHandlers({
    kernel: opts.kernel,
    jobTransport: opts.jobTransport,
    service: { name: service.info().name, version, instanceId: service.info().id, startedAt: new Date() },
    workers: (req) => listWorkers(nc, { prefix, queue: req.queue, unhealthyAfterMs: req.unhealthyAfterMs }),
    ...(opts.unservedTasks ? { unservedTasks: opts.unservedTasks } : {}),
    ...(opts.taskWaits ? { taskWaits: opts.taskWaits } : {}),
    ...(opts.runTasks ? { runTasks: opts.runTasks } : {}),
    ...(opts.runArtifacts ? { runArtifacts: opts.runArtifacts } : {}),
    ...(opts.presignArtifact ? { presignArtifact: opts.presignArtifact } : {}),
    ...(opts.deadLetters ? { deadLetters: opts.deadLetters } : {}),
    ...(opts.aiCosts ? { aiCosts: opts.aiCosts } : {}),
  });

  for (const endpoint of API_ENDPOINTS) {
    service.addEndpoint(endpoint.replace(".", "-"), {
      subject: apiSubject(endpoint, prefix),
      metadata: { endpoint },
      handler: (err, msg) => {
        if (err) {
          logger.error({ err: err.message, endpoint }, "api endpoint subscription failed");
          return;
        }
        void handle(endpoint, msg).catch((e: unknown) => logger.error({ endpoint, err: String(e) }, "api request handling failed"));
      },
    });
  }

  /**
   * Handles one request in a SERVER span, child of the caller's span (request headers); `run` spans descend from it.
   * Never rejects: the guarded reply path answers every failure (sanitised headers, no infrastructure details).
   */
  function handle(endpoint: ApiEndpoint, msg: ServiceMsg): Promise<void> {
    const attributes = {
      "rpc.system": "jetflow",
      "rpc.method": endpoint,
      "messaging.system": "nats",
      "messaging.destination.name": msg.subject,
    };
    let parent;
    try {
      parent = extractTraceHeaders(msg.headers);
    } catch {
      parent = undefined; // unreadable trace headers only cost the trace link
    }
    const serve = (span?: Span) =>
      serveRequest(msg, () => (handlers[endpoint] as (r: unknown) => Promise<unknown>)(parseRequest(endpoint, msg.data)), {
        logger,
        context: { endpoint },
        onError: (e) => {
          if (span) recordSpanError(span, e);
        },
      });
    return inSpan(`jetflow.api ${endpoint}`, { kind: SpanKind.SERVER, attributes, ...(parent ? { parent } : {}) }, (span) =>
      serve(span),
    ).catch((err: unknown) => {
      // Only the tracing wrapper can fail here (serveRequest never rejects): still answer.
      logger.error({ endpoint, err: String(err) }, "api request span failed");
      return serve();
    });
  }

  return {
    id: service.info().id,
    async stop() {
      await service.stop();
    },
  };
}

/** Decodes JSON and validates it against the endpoint's request schema (typed errors naming fields). */
function parseRequest(endpoint: ApiEndpoint, data: Uint8Array): unknown {
  let json: unknown = {};
  if (data.length > 0) {
    try {
      json = JSON.parse(new TextDecoder().decode(data));
    } catch (e) {
      throw new BadRequestError(`request body is not valid JSON: ${(e as Error).message}`); // the body echo is the client's own input
    }
  }
  const parsed = API_SCHEMAS[endpoint].request.safeParse(json);
  if (!parsed.success) {
    throw new ValidationError(`invalid ${endpoint} request`, issuesFromZod(parsed.error));
  }
  return parsed.data;
}

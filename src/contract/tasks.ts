/**
 * Wire messages of remote activities (JSON, UTF-8, dates as ISO-8601 strings), shared by the
 * orchestrator's broker and the worker SDK:
 *
 * | message                 | JetStream mapping                                                   |
 * | ----------------------- | ------------------------------------------------------------------- |
 * | TaskMessage             | `<p>.tasks.<queue>.<codeVersion>` work-queue stream, `Nats-Msg-Id = taskId` |
 * | StartRequest/Reply      | request/reply on `<p>.broker.<queue>.heartbeat`; opens an attempt (delivery count = attempt), proves the delivery (capability), returns the broker-issued lease token |
 * | HeartbeatRequest/Reply  | request/reply on the same subject; extends the lease, carries progress, `release` gives it up |
 * | ReportMessage           | `<p>.reports.<queue>` work-queue stream, `Nats-Msg-Id = reportMsgId(...)`, PubAck'ed before the task is acked |
 * | PresignRequest/Reply    | request/reply                                                       |
 * | TaskErrorReply          | reply to any request the broker refuses                             |
 * | CancelNotice            | best-effort core publish on `<p>.cancel.<queue>`                    |
 *
 * The attempt number is NOT in the task message: it is the transport's delivery count.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { type ParseResult, ProtocolError } from "./protocol-error.js";
import { parseJsonBody, zodToProtocolError } from "./job-message.js";
import { toPublicError } from "./public-error.js";
import { identifier, int4, storableJson, storableText } from "./storable.js";
import { ReportAICall } from "./ai-calls.js";
import { MAX_PARTS } from "./multipart-limits.js";

const isoDate = z.string().datetime({ offset: true });
const id = identifier(512);
const attempt = int4().min(1);
const leaseToken = identifier(200);
const labels = z.record(z.string(), z.string());

/** A task published for workers of `queue` running `codeVersion`. */
export const TaskMessage = z.object({
  v: z.literal(1),
  taskId: id,
  workflowRunId: id,
  workflowId: id,
  stageId: id,
  queue: id,
  codeVersion: id,
  requiredLabels: labels,
  /** Deliveries after which the task fails (the worker stops retrying before it). */
  maxAttempts: int4().min(1),
  /**
   * The run's (or stage's) priority; its band (src/contract/priority.ts) chose the subject and
   * consumer the task was published on. Absent = 0 (normal band).
   */
  priority: int4().optional(),
  input: z.unknown(),
  config: z.unknown(),
  /** Progress of the previous attempt when known at publish time (the start reply is authoritative). */
  heartbeatDetails: z.unknown().optional(),
  /** Absolute deadline after which the task fails; null = none. */
  deadline: isoDate.nullable(),
  /** Where this task's artifacts live: `runs/<runId>/<stageId>/`; each attempt writes under `<prefix><attempt>/`. */
  artifactPrefix: z.string().min(1),
  /** Outputs of earlier stages, only when the orchestrator chose to ship them. */
  workflowContext: z.record(z.string(), z.unknown()).optional(),
  /** W3C trace carrier. */
  traceContext: z.record(z.string(), z.string()).optional(),
  /**
   * Proof of delivery: a random secret that only this message carries (it is published on the
   * task's own queue subject, which only that queue's workers may pull). A StartRequest must
   * echo it, and it opens ONE attempt: once the attempt's lease lapsed, the next attempt gets a
   * new capability in a new message (the old message is refused `superseded`). Absent only in
   * tasks created before it existed.
   */
  capability: z.string().min(16).max(200).optional(),
  /**
   * Largest artifact (bytes) one upload of this task may store. The broker refuses presigns over it
   * and signs the declared size into every upload URL; the worker SDK refuses such a put before any
   * request. Absent only in tasks created before it existed (the broker then applies its default).
   */
  maxUploadBytes: z.number().int().min(1).optional(),
  /**
   * Attempts already started when this message was published: set on a re-dispatch (the earlier
   * message ran out of deliveries or was lost). A delivery's attempt is `attemptBase` plus its
   * JetStream delivery count, so attempt numbers keep rising across messages. Absent = 0.
   */
  attemptBase: int4().min(0).optional(),
  /**
   * Known AI cost (USD) of the run and of this stage when the task was submitted: the worker's AI
   * helper adds its own calls to it to enforce budgets. Absent: nothing known (counts as 0).
   */
  aiSpent: z.object({ run: z.number().min(0), stage: z.number().min(0) }).optional(),
  createdAt: isoDate,
});
/** A remote task as published on a queue's task stream. */
export type TaskMessage = z.output<typeof TaskMessage>;

/**
 * Opens attempt `attempt` of a delivered task: the first message a worker sends for a delivery,
 * on `<p>.broker.<queue>.heartbeat` of the task's own queue. The broker accepts it only with the
 * task message's `capability`, only for a task of that queue, only for an attempt newer than the
 * current one, and only while that capability has not opened an attempt yet (a capability is
 * single-use; a holder's release returns it to its message); its reply carries the lease token
 * that every later heartbeat, presign and report of the attempt must present.
 */
export const StartRequest = z.object({
  start: z.literal(true),
  taskId: id,
  /** The task message's `attemptBase` (0 when absent) plus the JetStream delivery count of this delivery. */
  attempt,
  workerId: id,
  /** Worker's code version: a mismatch fails the task, naming both versions. */
  codeVersion: id,
  /** The task message's `capability`. */
  capability: storableText(200).optional(),
});
export type StartRequest = z.output<typeof StartRequest>;

/** Liveness + progress of one started attempt, with the lease token its start reply issued. */
export const HeartbeatRequest = z.object({
  taskId: id,
  attempt,
  leaseToken,
  workerId: id,
  /** Stored as jsonb: no U+0000, no lone surrogates. */
  details: storableJson().optional(),
  /** The holder gives its lease up (it is about to nak the delivery for a retry or a stop), so the redelivery can start at once. */
  release: z.boolean().optional(),
});
/** A worker's heartbeat: extends the lease and records progress. */
export type HeartbeatRequest = z.output<typeof HeartbeatRequest>;

/** The broker's answer to a heartbeat: accepted, cancelled, new lease deadline. */
export const HeartbeatReply = z.object({
  /** False: this attempt no longer holds the task (stale, terminal, unknown); stop working. */
  accepted: z.boolean(),
  /** True: the run or task was cancelled; abort the activity and report `cancelled`. */
  cancelled: z.boolean(),
  reason: z.string().optional(),
  /** On start: the previous attempt's last details. */
  heartbeatDetails: z.unknown().optional(),
  leaseDeadline: isoDate.optional(),
  /**
   * On an accepted start or beat: the lease length in ms (the task consumer's AckWait). A worker
   * that renewed its delivery less than half of it ago knows no redelivery can exist yet, so it
   * may ack its report without asking the broker again.
   */
  leaseMs: z.number().int().positive().optional(),
  /** On an accepted start: the lease token of this attempt, issued by the broker (a worker never chooses one). */
  leaseToken: z.string().min(1).max(200).optional(),
  /** On a start refused because another attempt's lease is still live: give the delivery back (nak) with this delay. */
  retryAfterMs: z.number().int().min(0).optional(),
  /**
   * On an accepted start: how many more attempts may start after this one. Attempts count
   * executions: deliveries given back unstarted (refused, unanswered) spend none, so attempt
   * numbers may skip. A worker retries a failure only while this is above 0.
   */
  attemptsLeft: z.number().int().min(0).optional(),
});
/** The broker's answer to a heartbeat: accepted, cancelled, new lease deadline. */
export type HeartbeatReply = z.output<typeof HeartbeatReply>;

/** A log line carried by a worker's report. */
export const ReportLog = z.object({
  level: z.enum(["DEBUG", "INFO", "WARN", "ERROR"]),
  message: z.string(),
  meta: z.record(z.string(), z.unknown()).optional(),
  at: isoDate,
});
/** A log line carried by a worker's report. */
export type ReportLog = z.output<typeof ReportLog>;

/** An annotation carried by a worker's report. */
export const ReportAnnotation = z.object({
  attributes: z.record(z.string(), z.unknown()),
  idempotencyKey: z.string().optional(),
});
/** An annotation carried by a worker's report. */
export type ReportAnnotation = z.output<typeof ReportAnnotation>;

/** Output stored in the object store instead of inline (large outputs). */
export const OutputRef = z.object({ key: z.string().min(1), size: z.number().int().min(0) });
/** An output stored as an object instead of inline. */
export type OutputRef = z.output<typeof OutputRef>;

/** The single outcome of one attempt. Exactly one of output/outputRef when completed; error otherwise. */
export const ReportMessage = z
  .object({
    v: z.literal(1),
    taskId: id,
    attempt,
    leaseToken,
    workerId: id,
    codeVersion: id,
    outcome: z.enum(["completed", "failed", "cancelled"]),
    output: z.unknown().optional(),
    outputRef: OutputRef.optional(),
    error: z.string().optional(),
    /** False: retrying cannot help (bad input/config). */
    retryable: z.boolean().optional(),
    logs: z.array(ReportLog).max(10_000),
    annotations: z.array(ReportAnnotation).max(10_000).optional(),
    metrics: z.record(z.string(), z.number()).optional(),
    /** AI calls of the attempt (see `jetflow/ai`); stored with the outcome, once, under ids the orchestrator derives. */
    aiCalls: z.array(ReportAICall).max(10_000).optional(),
    reportedAt: isoDate,
  })
  .superRefine((r, ctx) => {
    if (r.outcome === "completed" && r.output === undefined && r.outputRef === undefined) {
      ctx.addIssue({ code: "custom", path: ["output"], message: "a completed report needs output or outputRef" });
    }
    if (r.output !== undefined && r.outputRef !== undefined) {
      ctx.addIssue({ code: "custom", path: ["outputRef"], message: "output and outputRef are exclusive" });
    }
    if (r.outcome !== "completed" && !r.error) {
      ctx.addIssue({ code: "custom", path: ["error"], message: `a ${r.outcome} report needs an error message` });
    }
  });
/** A worker's final report of an attempt. */
export type ReportMessage = z.output<typeof ReportMessage>;

/**
 * The `Nats-Msg-Id` of a report: `<taskId>:<attempt>:<first 32 hex of sha256(leaseToken)>`. A
 * retried publish of the same attempt is de-duplicated, yet nobody but the lease holder can
 * compute it: with an id of task and attempt alone, any worker could publish first under a
 * task's id and get the genuine report dropped as a duplicate (the window spans every queue).
 */
export function reportMsgId(taskId: string, attempt: number, leaseToken: string): string {
  return `${taskId}:${attempt}:${createHash("sha256").update(leaseToken).digest("hex").slice(0, 32)}`;
}

/**
 * A presign request of the attempt holding the lease. `key` is relative to the attempt's prefix
 * (`runs/<runId>/<stageId>/<attempt>/`) or absolute (`runs/...`); the broker refuses anything else.
 */
export const PresignRequest = z
  .object({
    taskId: id,
    attempt,
    leaseToken,
    op: z.enum(["get", "put", "multipart", "parts", "complete", "abort", "list"]),
    key: storableText(1024),
    /**
     * put and multipart: the exact byte size of the object. The broker refuses a size over the task's
     * `maxUploadBytes` and signs it into the URL(s): the store rejects a body of any other size.
     */
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    /** multipart and parts: the size of every part but the last (the last is `size - (parts - 1) * partSize`). */
    partSize: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
    /** parts: the first part number of the page of part URLs asked for. */
    partsFrom: z.number().int().min(1).max(MAX_PARTS).optional(),
    /**
     * multipart and parts: how many part URLs to sign (from `partsFrom`, or from 1 for multipart). The
     * broker signs at most its page limit and fewer when the reply would grow too large; absent, the page limit.
     */
    partsCount: z.number().int().min(1).max(MAX_PARTS).optional(),
    /** parts, complete, abort: the `uploadTicket` of the multipart reply, binding `uploadId` to this attempt, key and sizes. */
    uploadTicket: storableText(256).min(1).optional(),
    contentType: storableText(255).optional(),
    uploadId: storableText(1024).min(1).optional(),
    parts: z
      .array(z.object({ partNumber: z.number().int().min(1).max(10_000), etag: storableText(1024).min(1) }))
      .max(10_000)
      .optional(),
  })
  .superRefine((r, ctx) => {
    if ((r.op === "put" || r.op === "multipart") && r.size === undefined)
      ctx.addIssue({ code: "custom", path: ["size"], message: `${r.op} needs size (the exact byte size of the upload)` });
    if ((r.op === "complete" || r.op === "abort" || r.op === "parts") && !r.uploadId)
      ctx.addIssue({ code: "custom", path: ["uploadId"], message: `${r.op} needs uploadId` });
    if (r.op === "parts") {
      for (const f of ["size", "partSize", "partsFrom", "uploadTicket"] as const)
        if (r[f] === undefined) ctx.addIssue({ code: "custom", path: [f], message: `parts needs ${f}` });
    }
    if (r.op === "complete" && (!r.parts || r.parts.length === 0))
      ctx.addIssue({ code: "custom", path: ["parts"], message: "complete needs parts" });
  });
/** A worker's request for a presigned URL within its task's scope. */
export type PresignRequest = z.output<typeof PresignRequest>;

/** The broker's answer to a presign request: the URL(s) to use. */
export const PresignReply = z.object({
  key: z.string(),
  /** get/put: the URL, method and headers to send exactly. */
  url: z.string().optional(),
  method: z.enum(["GET", "PUT"]).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /** multipart and parts: PUT URLs for a page of parts (`parts`), each signed for exactly `size` bytes. */
  uploadId: z.string().optional(),
  partSize: z.number().int().optional(),
  /** multipart and parts: how many parts the whole upload has; ask for the ones `parts` lacks with op `parts`. */
  partCount: z.number().int().min(1).max(MAX_PARTS).optional(),
  /** multipart: present it in every `parts`, `complete` and `abort` request of this upload. */
  uploadTicket: z.string().optional(),
  parts: z.array(z.object({ partNumber: z.number().int(), url: z.string(), size: z.number().int().min(0).optional() })).optional(),
  /** put and multipart: the byte size signed into the URL(s); complete: the size of the stored object. */
  size: z.number().int().min(0).optional(),
  /** list: keys under the attempt's stage prefix. */
  keys: z.array(z.string()).optional(),
  expiresAt: isoDate.optional(),
});
/** The broker's answer to a presign request: the URL(s) to use. */
export type PresignReply = z.output<typeof PresignReply>;

/**
 * Best-effort notice (core NATS, not stored) on `<p>.cancel.<queue>` that tasks of a run on that
 * queue were cancelled: workers of the queue abort the matching task at once. Losing it only
 * delays the abort until the next broker heartbeat, whose reply's `cancelled: true` is the fallback.
 */
export const CancelNotice = z.object({
  workflowRunId: id,
  queue: z.string().min(1),
  taskIds: z.array(id),
});
/** The cancel notice the broker publishes when a run's tasks are cancelled. */
export type CancelNotice = z.output<typeof CancelNotice>;

/** Reply to a refused request: a machine code, a message, and the failing fields when any. */
export const TaskErrorReply = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});
/** The error reply of a broker request. */
export type TaskErrorReply = z.output<typeof TaskErrorReply>;

/** Parses a body (bytes, text or parsed JSON) with `schema`, naming it `what` in errors; never throws. */
export function parseWith<T>(schema: z.ZodType<T>, what: string, body: unknown): ParseResult<T> {
  const json = parseJsonBody(body, what);
  if (!json.ok) return json;
  const r = schema.safeParse(json.value);
  if (!r.success) return { ok: false, error: zodToProtocolError(what, r.error) };
  return { ok: true, value: r.data };
}

/** Parses a task body (bytes, text or parsed JSON); never throws. */
export const parseTaskMessage = (body: unknown): ParseResult<TaskMessage> => parseWith(TaskMessage, "task message", body);
/** Parses a heartbeat request; never throws. */
export const parseHeartbeatRequest = (body: unknown): ParseResult<HeartbeatRequest> =>
  parseWith(HeartbeatRequest, "heartbeat request", body);
/** Parses a start request; never throws. */
export const parseStartRequest = (body: unknown): ParseResult<StartRequest> => parseWith(StartRequest, "start request", body);

/** A body on the heartbeat subject: a StartRequest when it says `"start": true`, else a HeartbeatRequest. */
export function parseHeartbeatOrStart(
  body: unknown,
): ParseResult<({ kind: "start" } & StartRequest) | ({ kind: "beat" } & HeartbeatRequest)> {
  const json = parseJsonBody(body, "heartbeat request");
  if (!json.ok) return json;
  const isStart = typeof json.value === "object" && json.value !== null && (json.value as { start?: unknown }).start === true;
  const r = isStart ? parseStartRequest(json.value) : parseHeartbeatRequest(json.value);
  return r.ok
    ? {
        ok: true,
        value: { ...r.value, kind: isStart ? "start" : "beat" } as
          ({ kind: "start" } & StartRequest) | ({ kind: "beat" } & HeartbeatRequest),
      }
    : r;
}
/** Parses a heartbeat reply; never throws. */
export const parseHeartbeatReply = (body: unknown): ParseResult<HeartbeatReply> => parseWith(HeartbeatReply, "heartbeat reply", body);
/** Parses a report message; never throws. */
export const parseReportMessage = (body: unknown): ParseResult<ReportMessage> => parseWith(ReportMessage, "report message", body);
/** Parses a presign request; never throws. */
export const parsePresignRequest = (body: unknown): ParseResult<PresignRequest> => parseWith(PresignRequest, "presign request", body);
/** Parses a presign reply; never throws. */
export const parsePresignReply = (body: unknown): ParseResult<PresignReply> => parseWith(PresignReply, "presign reply", body);
/** Parses a broker error reply; never throws. */
export const parseTaskErrorReply = (body: unknown): ParseResult<TaskErrorReply> => parseWith(TaskErrorReply, "error reply", body);

/** Validates a message before it is sent. @throws ProtocolError naming the bad field. */
export function encodeTaskBody<T>(schema: z.ZodType<T>, what: string, value: unknown): Uint8Array {
  const r = schema.safeParse(value);
  if (!r.success) throw zodToProtocolError(what, r.error);
  return new TextEncoder().encode(JSON.stringify(r.data));
}

/** Unwraps a ParseResult. @throws ProtocolError */
export function unwrap<T>(r: ParseResult<T>): T {
  if (!r.ok) throw r.error;
  return r.value;
}

/**
 * Builds an error reply from any thrown value: typed errors keep their code and issues; anything
 * else is made client-safe by {@link toPublicError} (no database or connection detail).
 */
export function toTaskErrorReply(err: unknown): TaskErrorReply {
  const e = toPublicError(err);
  return { error: { code: e.code, message: e.message, ...(e.issues ? { issues: e.issues } : {}) } };
}

/** True when `labels` carries every required label with the same value. */
export function labelsSatisfy(required: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(required).every(([k, v]) => labels[k] === v);
}

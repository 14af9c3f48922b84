/**
 * What a client may learn of a failure. Typed jetflow errors keep their code and message;
 * infrastructure failures (database or broker down, connection refused, timeouts) become
 * `UNAVAILABLE` with a fixed message, so no host, port or SQL text ever leaves the process; any
 * other error becomes `INTERNAL` with a generic message and a correlation id that the server logs
 * next to the full error. Used by every request responder (API service, broker, worker service).
 */
import { randomUUID } from "node:crypto";
import { JetflowError, ValidationError } from "./errors.js";
import { ProtocolError } from "./protocol-error.js";
import type { ValidationIssue } from "./validation.js";

/** A failure as a client may see it. */
export interface PublicError {
  /** Symbolic jetflow code (VALIDATION, UNAVAILABLE, INTERNAL, ...). */
  code: string;
  /** Numeric status (HTTP-like) for service-protocol headers. */
  status: number;
  message: string;
  issues?: ValidationIssue[];
  /** Set when the message was made generic: the server logged the full error under this id. */
  correlationId?: string;
}

/** Numeric status of each symbolic code (the `Nats-Service-Error-Code` header). */
export const ERROR_STATUS: Readonly<Record<string, number>> = {
  VALIDATION: 400,
  BAD_REQUEST: 400,
  PROTOCOL: 400,
  WORKFLOW_NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  STAGE_NOT_FOUND: 404,
  TASK_NOT_FOUND: 404,
  NOT_FOUND: 404,
  IDEMPOTENCY_IN_PROGRESS: 409,
  INVALID_STATE: 409,
  CONFLICT: 409,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

// Node socket errors and postgres.js connection errors.
const INFRA_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "NOT_TAGGED_CALL",
]);

/**
 * True for errors that mean a backing service is unreachable or overloaded, not that the
 * request is wrong: socket errors, postgres.js connection codes, SQLSTATE classes 08
 * (connection), 53 (insufficient resources), 57P (operator intervention: shutdown), timeouts.
 */
export function isInfrastructureError(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (INFRA_CODES.has(code) || /^(08|53|57P)/.test(code))) return true;
    const name = (e as { name?: unknown }).name;
    if (name === "TimeoutError" || (e as { errno?: unknown }).errno === "ETIMEDOUT") return true;
    if (Array.isArray((e as { errors?: unknown }).errors) && (e as { errors: unknown[] }).errors.some(isInfrastructureError)) return true;
  }
  return false;
}

/** SQLSTATE class 22 (data exception): a value the database cannot hold slipped past validation. */
function isDataException(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^22[0-9A-Z]{3}$/.test(code) && typeof (err as { severity?: unknown }).severity === "string";
}

/** Where {@link toPublicError} logs what it hides. */
export interface PublicErrorLogger {
  error(obj: Record<string, unknown>, msg?: string): void;
}

/**
 * The client-safe form of `err`; hidden details are logged to `logger` with a correlation id.
 * `context` is added to that log line (endpoint, subject).
 */
export function toPublicError(err: unknown, logger?: PublicErrorLogger, context: Record<string, unknown> = {}): PublicError {
  if (err instanceof ValidationError) return { code: err.code, status: 400, message: err.message, issues: err.issues };
  if (err instanceof ProtocolError) return { code: err.code, status: 400, message: err.message, issues: err.issues };
  if (err instanceof JetflowError && err.code !== "INTERNAL" && err.code !== "UNAVAILABLE") {
    return { code: err.code, status: ERROR_STATUS[err.code] ?? 500, message: err.message };
  }
  const correlationId = randomUUID();
  const full = describe(err);
  if (isInfrastructureError(err) || (err instanceof JetflowError && err.code === "UNAVAILABLE")) {
    logger?.error({ ...context, correlationId, err: full }, "request failed: a backing service is unavailable");
    return {
      code: "UNAVAILABLE",
      status: 503,
      message: `service temporarily unavailable; retry later (correlation id ${correlationId})`,
      correlationId,
    };
  }
  if (isDataException(err)) {
    logger?.error({ ...context, correlationId, err: full }, "request failed: the database refused a value");
    return {
      code: "VALIDATION",
      status: 400,
      message: `a value in the request cannot be stored (out of range or holds characters the store refuses) (correlation id ${correlationId})`,
      correlationId,
    };
  }
  logger?.error({ ...context, correlationId, err: full }, "request failed unexpectedly");
  return { code: "INTERNAL", status: 500, message: `internal error (correlation id ${correlationId})`, correlationId };
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

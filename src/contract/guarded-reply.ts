/**
 * The one way jetflow answers a request, on both sides of the wire (API service, broker
 * responders, worker control, worker service). Request handlers are started from NATS callbacks
 * that nobody awaits, so a throw anywhere in them — the handler, JSON encoding, a header value the
 * client rejects (CR/LF), a closed connection — would be an unhandled rejection that ends the
 * process. {@link serveRequest} never rejects: it answers with the handler's reply or with a
 * client-safe error ({@link toPublicError}), falls back to a header-less reply when an error reply
 * cannot be sent, and logs anything it could not deliver.
 *
 * Structural message types keep this module free of any NATS import.
 */
import { type PublicError, type PublicErrorLogger, toPublicError } from "./public-error.js";

/** The part of a received NATS message a responder needs. */
export interface RequestMessage {
  readonly subject: string;
  readonly reply?: string;
  respond(data?: string | Uint8Array): boolean;
}

/** A micro-service request (`@nats-io/services`): error replies carry status headers. */
export interface ServiceRequestMessage extends RequestMessage {
  respondError(code: number, description: string, data?: string | Uint8Array): boolean;
}

/** Where a responder logs. */
export interface ResponderLogger extends PublicErrorLogger {
  warn(obj: Record<string, unknown>, msg?: string): void;
}

/** Options of {@link serveRequest}. */
export interface ServeRequestOptions {
  logger: ResponderLogger;
  /** Added to every log line (endpoint, op). */
  context?: Record<string, unknown>;
  /** The error body; default `{ error: { code, message, issues?, correlationId? } }`. */
  errorBody?: (e: PublicError) => unknown;
  /** Called with the raw error before it is made public (spans, refusal logs). Must not throw; a throw is logged. */
  onError?: (err: unknown) => void;
  /** Maps the responder's own error types; `undefined` falls back to {@link toPublicError}. */
  classify?: (err: unknown) => PublicError | undefined;
}

const MAX_HEADER_CHARS = 256;

/**
 * `text` made safe as a NATS header value: every character outside printable ASCII (CR, LF, NUL,
 * other controls, non-ASCII) becomes a space, runs of spaces collapse, and it is cut to 256
 * characters. The full text belongs in the body.
 */
export function headerSafe(text: string, max = MAX_HEADER_CHARS): string {
  const clean = text
    .replace(/[^\x20-\x7e]+/g, " ")
    .replace(/ {2,}/g, " ")
    .trim();
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}

/** The default error body: jetflow's symbolic code, message, field issues and correlation id. */
export function defaultErrorBody(e: PublicError): { error: Omit<PublicError, "status"> } {
  return {
    error: {
      code: e.code,
      message: e.message,
      ...(e.issues ? { issues: e.issues } : {}),
      ...(e.correlationId ? { correlationId: e.correlationId } : {}),
    },
  };
}

/**
 * Runs `handler` and answers `msg` with its JSON reply, or with an error reply built from what it
 * threw. Never rejects and never throws, so it may be started with `void`.
 */
export async function serveRequest(msg: RequestMessage, handler: () => unknown, opts: ServeRequestOptions): Promise<void> {
  const { logger, context = {} } = opts;
  const where = { ...context, subject: msg.subject };
  try {
    let reply: unknown;
    try {
      reply = await handler();
    } catch (err) {
      try {
        opts.onError?.(err);
      } catch (hookErr) {
        logger.warn({ ...where, err: String(hookErr) }, "request error hook threw");
      }
      respondWithError(msg, opts.classify?.(err) ?? toPublicError(err, logger, where), opts);
      return;
    }
    if (!msg.reply) {
      logger.warn(where, "request without a reply subject; answer dropped");
      return;
    }
    let body: string;
    try {
      body = JSON.stringify(reply ?? null);
    } catch (err) {
      respondWithError(msg, toPublicError(err, logger, where), opts);
      return;
    }
    msg.respond(body);
  } catch (err) {
    logger.error({ ...where, err: String(err) }, "reply could not be sent");
  }
}

/** Sends an error reply; never throws (what cannot be sent is logged). */
export function respondWithError(
  msg: RequestMessage,
  e: PublicError,
  opts: Pick<ServeRequestOptions, "logger" | "context" | "errorBody">,
): void {
  const where = { ...opts.context, subject: msg.subject };
  if (!msg.reply) {
    opts.logger.warn({ ...where, code: e.code }, "request without a reply subject; error answer dropped");
    return;
  }
  let body: string;
  try {
    body = JSON.stringify((opts.errorBody ?? defaultErrorBody)(e));
  } catch {
    body = JSON.stringify(defaultErrorBody({ code: e.code, status: e.status, message: headerSafe(e.message, 2_000) }));
  }
  try {
    if (isServiceMessage(msg)) {
      // The header carries a sanitised summary; the body carries the full message.
      msg.respondError(e.status, headerSafe(`${e.code}: ${e.message}`), body);
    } else {
      msg.respond(body);
    }
    return;
  } catch (err) {
    opts.logger.warn({ ...where, err: String(err) }, "error reply with headers failed; answering with the body only");
  }
  try {
    msg.respond(body);
  } catch (err) {
    opts.logger.error({ ...where, err: String(err) }, "error reply could not be sent");
  }
}

function isServiceMessage(msg: RequestMessage): msg is ServiceRequestMessage {
  return typeof (msg as Partial<ServiceRequestMessage>).respondError === "function";
}

/**
 * Span helper shared by the kernel's callers, adapters and the worker SDK. Uses only
 * `@opentelemetry/api`: without an SDK every call is a no-op span.
 */
import { type Attributes, type Context, type Span, SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";

/** Instrumentation scope of every jetflow span. */
export const TRACER_NAME = "jetflow";

/** Options of {@link inSpan}: span kind, attributes, parent context. */
export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** Parent context; default the active one. */
  parent?: Context;
}

/** Marks `span` failed with `err` (exception event + ERROR status). */
export function recordSpanError(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/**
 * Runs `fn` in a new active span (so spans and injected headers below it are its children),
 * records a thrown error on it and always ends it.
 */
export async function inSpan<T>(name: string, opts: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  const parent = opts.parent ?? context.active();
  return trace
    .getTracer(TRACER_NAME)
    .startActiveSpan(
      name,
      { kind: opts.kind ?? SpanKind.INTERNAL, ...(opts.attributes ? { attributes: opts.attributes } : {}) },
      parent,
      async (span) => {
        try {
          return await fn(span);
        } catch (err) {
          recordSpanError(span, err);
          throw err;
        } finally {
          span.end();
        }
      },
    );
}

export { SpanKind };

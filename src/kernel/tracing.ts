import { type Span, SpanKind, SpanStatusCode, context, propagation, trace } from "@opentelemetry/api";
import type { TraceCarrier } from "../ports/records.js";

const tracer = () => trace.getTracer("jetflow.kernel");

/**
 * Runs `fn` in a span whose parent is the run's persisted trace context, so one trace spans
 * submitter → kernel → stage even across processes. A no-op unless an OTel SDK is started.
 */
export async function withSpan<T>(
  name: string,
  carrier: TraceCarrier | null | undefined,
  attributes: Record<string, string | number>,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = carrier ? propagation.extract(context.active(), carrier) : context.active();
  return tracer().startActiveSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

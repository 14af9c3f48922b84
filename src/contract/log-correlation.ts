/**
 * Trace/log correlation: the active span's ids as log fields, named as the OpenTelemetry log data
 * model names them (`trace_id`, `span_id`, `trace_flags`). Use it as pino's `mixin` so every log
 * line written inside a span can be joined with the trace. Only `@opentelemetry/api`: importing
 * this does not load the SDK, and without one it returns `{}`.
 */
import { isSpanContextValid, trace } from "@opentelemetry/api";

/** Fields of the active span, or `{}` outside a (sampled or unsampled) valid span. */
export function traceLogFields(): { trace_id?: string; span_id?: string; trace_flags?: string } {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId, trace_flags: sc.traceFlags.toString(16).padStart(2, "0") };
}

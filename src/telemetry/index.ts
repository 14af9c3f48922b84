export { inSpan, recordSpanError, SpanKind, TRACER_NAME } from "../contract/spans.js";
export type { SpanOptions } from "../contract/spans.js";
export {
  countRedelivery,
  countRunTransition,
  countTaskOutcome,
  recordActivityDuration,
  recordHeartbeatGap,
  recordOutboxLag,
  METER_NAME,
} from "../contract/metrics.js";
export {
  carrierFromContext,
  carrierFromHeaders,
  contextFromCarrier,
  extractTraceHeaders,
  injectTraceHeaders,
} from "../contract/trace-headers.js";
export type { HeaderAccess } from "../contract/trace-headers.js";

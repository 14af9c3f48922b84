export { inSpan, recordSpanError, SpanKind, TRACER_NAME } from "./spans.js";
export type { SpanOptions } from "./spans.js";
export { countRedelivery, countRunTransition, countTaskOutcome, recordActivityDuration, recordHeartbeatGap, recordOutboxLag, METER_NAME } from "./metrics.js";
export { carrierFromContext, carrierFromHeaders, contextFromCarrier, extractTraceHeaders, injectTraceHeaders } from "../protocol/trace-headers.js";
export type { HeaderAccess } from "../protocol/trace-headers.js";

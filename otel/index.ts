/** `jetflow/otel`: telemetry SDK setup for jetflow processes (the only place the OTel SDK is imported). */
export { startTelemetry, TelemetryOptionsError } from "./start.js";
export { sdkDisabled, telemetryRequested } from "./env.js";
export type { Telemetry, TelemetryOptions } from "./start.js";
export { traceLogFields } from "../src/contract/log-correlation.js";

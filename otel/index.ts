/** `jetflow/otel`: telemetry SDK setup for jetflow processes (the only place the OTel SDK is imported). */

// SDK setup
export { startTelemetry, TelemetryOptionsError } from "./start.js";
export { sdkDisabled, telemetryRequested } from "./env.js";

// Log correlation
export { traceLogFields } from "../src/contract/log-correlation.js";

// Types
export type { Telemetry, TelemetryOptions } from "./start.js";

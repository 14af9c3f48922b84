/** `jetflow/otel`: telemetry SDK setup for jetflow processes (the only place the OTel SDK is imported). */
export { startTelemetry, telemetryRequested, TelemetryOptionsError } from "./start.js";
export type { Telemetry, TelemetryOptions } from "./start.js";

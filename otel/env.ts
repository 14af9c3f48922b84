/**
 * Reading the standard OTEL_* variables without loading the SDK (cheap enough for every CLI start).
 */

/** True when OTEL_SDK_DISABLED is "true" (case-insensitive), as the specification says. */
export function sdkDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true";
}

/**
 * True when the environment asks for telemetry: an OTLP endpoint or an exporter is configured
 * and OTEL_SDK_DISABLED is not "true". Processes call {@link startTelemetry} only then, so an
 * unconfigured deployment does not try to reach localhost:4318.
 */
export function telemetryRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (sdkDisabled(env)) return false;
  return [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_CONFIG_FILE",
  ].some((k) => (env[k] ?? "").trim() !== "");
}

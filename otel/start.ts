/**
 * `startTelemetry`: starts the OpenTelemetry Node SDK for one jetflow process (orchestrator,
 * worker, CLI). Exporters, endpoints, protocol, sampling and propagators come from the standard
 * `OTEL_*` environment variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL,
 * OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_METRIC_EXPORT_INTERVAL, OTEL_SDK_DISABLED, …),
 * so operators configure jetflow the way they configure every other OTel service.
 */
import { DiagConsoleLogger, DiagLogLevel, diag } from "@opentelemetry/api";
import { NodeSDK, resources } from "@opentelemetry/sdk-node";
import { z } from "zod";
import { ValidationError, type ValidationIssue } from "../src/contract/errors.js";
import { parseOptions } from "../src/contract/options.js";
import { sdkDisabled } from "./env.js";

const TelemetryOptionsSchema = z.object({
  serviceName: z.string().min(1),
  serviceVersion: z.string().min(1).optional(),
  /** Extra resource attributes (e.g. `service.instance.id`, `deployment.environment.name`). */
  resourceAttributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  /** SDK diagnostic level; default OTEL_LOG_LEVEL, else "warn" (the SDK's "info" is chatty). */
  logLevel: z.enum(["all", "verbose", "debug", "info", "warn", "error", "none"]).optional(),
});

/** Options of {@link startTelemetry}. */
export type TelemetryOptions = z.input<typeof TelemetryOptionsSchema>;

/** A started SDK. */
export interface Telemetry {
  /** False when OTEL_SDK_DISABLED=true: nothing was installed and `shutdown` is a no-op. */
  readonly enabled: boolean;
  /** Flushes pending spans and metrics, then stops the exporters. Call once, on process stop. */
  shutdown(): Promise<void>;
}

/** Thrown for invalid options, naming each bad field. */
export class TelemetryOptionsError extends ValidationError {
  constructor(issues: ValidationIssue[]) {
    super("invalid telemetry options", issues);
  }
}

/**
 * Installs the global tracer provider, meter provider, W3C propagator and async context manager.
 * jetflow's own code only uses `@opentelemetry/api`, so it costs nothing until this is called.
 * `OTEL_SERVICE_NAME`, when set, wins over `serviceName` (operators rename services by env).
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  let opts: z.output<typeof TelemetryOptionsSchema>;
  try {
    opts = parseOptions("telemetry", TelemetryOptionsSchema, options);
  } catch (e) {
    throw e instanceof ValidationError ? new TelemetryOptionsError(e.issues) : e;
  }
  if (sdkDisabled()) {
    return { enabled: false, shutdown: async () => {} };
  }
  const serviceName = process.env.OTEL_SERVICE_NAME?.trim() || opts.serviceName;
  // The SDK's diagnostics go to stderr; an unreachable collector is reported there, never thrown.
  diag.setLogger(new DiagConsoleLogger(), { logLevel: diagLevel(opts.logLevel ?? process.env.OTEL_LOG_LEVEL ?? "warn") });
  const sdk = new NodeSDK({
    resource: resources.defaultResource().merge(
      resources.resourceFromAttributes({
        ...opts.resourceAttributes,
        "service.name": serviceName,
        ...(opts.serviceVersion ? { "service.version": opts.serviceVersion } : {}),
      }),
    ),
  });
  sdk.start();
  let stopping: Promise<void> | null = null;
  return {
    enabled: true,
    shutdown() {
      stopping ??= sdk.shutdown().catch((e: unknown) => diag.warn(`telemetry shutdown: ${(e as Error).message}`));
      return stopping;
    },
  };
}

/** OTEL_LOG_LEVEL names (case-insensitive) to the API's levels; unknown names mean "warn". */
function diagLevel(name: string): DiagLogLevel {
  const levels: Record<string, DiagLogLevel> = {
    all: DiagLogLevel.ALL,
    verbose: DiagLogLevel.VERBOSE,
    debug: DiagLogLevel.DEBUG,
    info: DiagLogLevel.INFO,
    warn: DiagLogLevel.WARN,
    error: DiagLogLevel.ERROR,
    none: DiagLogLevel.NONE,
  };
  return levels[name.trim().toLowerCase()] ?? DiagLogLevel.WARN;
}

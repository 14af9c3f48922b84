import { test } from "uvu";
import * as assert from "uvu/assert";
import { context, trace } from "@opentelemetry/api";
import { TelemetryOptionsError, startTelemetry, telemetryRequested, traceLogFields } from "../../otel/index.js";

test("telemetry is requested only by an OTLP endpoint or exporter, and OTEL_SDK_DISABLED wins", () => {
  assert.is(telemetryRequested({}), false);
  assert.is(telemetryRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }), true);
  assert.is(telemetryRequested({ OTEL_TRACES_EXPORTER: "console" }), true);
  assert.is(telemetryRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "TRUE" }), false);
});

test("invalid options are refused naming the field", () => {
  try {
    startTelemetry({ serviceName: "" });
    assert.unreachable("should throw");
  } catch (e) {
    assert.instance(e, TelemetryOptionsError);
    assert.match((e as Error).message, "serviceName");
  }
});

test("OTEL_SDK_DISABLED=true installs nothing", async () => {
  process.env.OTEL_SDK_DISABLED = "true";
  const t = startTelemetry({ serviceName: "jetflow-test" });
  assert.is(t.enabled, false);
  assert.is(trace.getTracer("x").startSpan("s").spanContext().traceFlags, 0, "still the no-op tracer");
  await t.shutdown();
  delete process.env.OTEL_SDK_DISABLED;
});

test("the standard OTEL_* variables configure the SDK: OTEL_TRACES_EXPORTER=none installs no tracer", async () => {
  process.env.OTEL_TRACES_EXPORTER = "none";
  process.env.OTEL_METRICS_EXPORTER = "none";
  const t = startTelemetry({ serviceName: "jetflow-test", serviceVersion: "1.2.3" });
  assert.is(t.enabled, true);
  const span = trace.getTracer("x").startSpan("s");
  assert.is(span.isRecording(), false, "no tracer provider with OTEL_TRACES_EXPORTER=none");
  span.end();
  await Promise.all([t.shutdown(), t.shutdown()]);
  delete process.env.OTEL_TRACES_EXPORTER;
  delete process.env.OTEL_METRICS_EXPORTER;
});

test("log lines get the active span's trace_id/span_id, and nothing outside a span", async () => {
  assert.equal(traceLogFields(), {});
  const sc = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: 1 };
  // The SDK started above installed the async context manager that makes a span active.
  const fields = context.with(trace.setSpan(context.active(), trace.wrapSpanContext(sc)), () => traceLogFields());
  assert.equal(fields, { trace_id: sc.traceId, span_id: sc.spanId, trace_flags: "01" });
});

test.run();

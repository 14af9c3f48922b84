import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Context, type Span, type TextMapPropagator, type Tracer, createContextKey, propagation, trace } from "@opentelemetry/api";
import { makeEnv, stage, workflow } from "./support/harness.js";

// A recording tracer and a propagator that keeps the carrier's traceparent in the context,
// enough to see which spans the kernel opens and under which parent.
const PARENT = createContextKey("test.parent");
const spans: { name: string; attrs: Record<string, unknown>; parent: unknown; status?: number; ended: boolean }[] = [];
const tracer = {
  startSpan() {
    throw new Error("unused");
  },
  startActiveSpan(name: string, opts: { attributes?: Record<string, unknown> }, ctx: Context, fn: (s: Span) => unknown) {
    const rec = { name, attrs: { ...opts.attributes }, parent: ctx.getValue(PARENT), ended: false } as (typeof spans)[number];
    spans.push(rec);
    const span = {
      setAttribute(k: string, v: unknown) {
        rec.attrs[k] = v;
        return span;
      },
      setStatus(s: { code: number }) {
        rec.status = s.code;
        return span;
      },
      recordException() {},
      end() {
        rec.ended = true;
      },
    } as unknown as Span;
    return fn(span);
  },
} as unknown as Tracer;
trace.setGlobalTracerProvider({ getTracer: () => tracer });
const propagator: TextMapPropagator = {
  inject() {},
  extract(ctx, carrier) {
    return ctx.setValue(PARENT, (carrier as Record<string, string>).traceparent);
  },
  fields: () => ["traceparent"],
};
propagation.setGlobalPropagator(propagator);

test("each attempt runs in a span parented by the run's trace context, with outcome and error status", async () => {
  let calls = 0;
  const s = stage({
    id: "fetch",
    execute: async () => {
      if (++calls === 1) throw new Error("flaky");
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const id = await env.create("wf", {}, { traceContext: { traceparent } });
  await env.drain();
  env.clock.advance(1000);
  await env.drain();
  const run = spans.filter((x) => x.name === "run");
  assert.equal(
    run.map((x) => [x.parent, x.attrs["jetflow.run.id"], x.ended]),
    [[traceparent, id, true]],
    "one run span, child of the submitter's context",
  );
  const stages = spans.filter((x) => x.name.startsWith("stage "));
  assert.equal(
    stages.map((x) => [x.name, x.attrs["jetflow.stage.attempt"], x.attrs["jetflow.outcome"], x.parent, x.ended]),
    [
      ["stage fetch", 1, "failed", traceparent, true],
      ["stage fetch", 2, "completed", traceparent, true],
    ],
  );
  assert.is(stages[0]!.status, 2, "failed attempt marks the span as error");
  assert.is(stages[0]!.attrs["jetflow.run.id"], id);
  assert.equal(
    env.queue.enqueued.map((j) => j.traceContext?.traceparent),
    [traceparent, traceparent],
  );
});

test.run();

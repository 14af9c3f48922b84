// jetflow.activity.heartbeat.gap: the worker records the time between accepted heartbeats of an
// attempt (what an operator alerts on before it reaches the lease); refused beats are not counted.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { metrics, type MeterProvider } from "@opentelemetry/api";
import { Heartbeater } from "../../worker-sdk/heartbeater.js";
import { silentWorkerLogger } from "../../worker-sdk/logger.js";
import type { LeasedTask, WorkerTransport } from "../../worker-sdk/transport.js";
import type { HeartbeatReply } from "../../src/contract/tasks.js";

const recorded: { name: string; value: number; attrs: unknown }[] = [];
const instrument = (name: string) => ({ record: (value: number, attrs: unknown) => recorded.push({ name, value, attrs }), add: () => {} });
// A recording MeterProvider is all this needs; the real SDK is exercised by integration/otel.
const provider = {
  getMeter: () => ({
    createHistogram: instrument,
    createCounter: instrument,
    createObservableGauge: () => ({ addCallback() {}, removeCallback() {} }),
  }),
} as unknown as MeterProvider;

test.before(() => {
  metrics.setGlobalMeterProvider(provider);
});
test.after(() => {
  metrics.disable();
});

test("each accepted heartbeat records the seconds since the previous one; a refused one records nothing", async () => {
  const replies: HeartbeatReply[] = [
    { accepted: true, cancelled: false },
    { accepted: false, cancelled: false, reason: "lease not held" },
  ];
  const transport = { heartbeat: async () => replies.shift()! } as unknown as WorkerTransport;
  const lease = { task: { taskId: "t1", queue: "render" }, attempt: 1, leaseToken: "tok", workerId: "w" } as unknown as LeasedTask;
  const hb = new Heartbeater(transport, lease, 1, () => {}, silentWorkerLogger);
  const started = Date.now();
  await new Promise((r) => setTimeout(r, 20)); // a measurable gap before the first beat
  hb.beat({ step: 1 });
  await hb.flush();
  hb.beat({ step: 2 }); // refused by the broker
  await hb.flush();
  await hb.stop();
  const gaps = recorded.filter((r) => r.name === "jetflow.activity.heartbeat.gap");
  assert.is(gaps.length, 1, "only the accepted beat");
  assert.ok(gaps[0]!.value >= 0.015 && gaps[0]!.value <= (Date.now() - started) / 1000 + 0.001, `gap in seconds, got ${gaps[0]!.value}`);
  assert.equal(gaps[0]!.attrs, { "jetflow.queue": "render" });
});

test.run();

// The fleet hooks of the activity worker (transport-agnostic): join once at start with a view of the
// worker, a change notice for every in-flight change, leave once after the final state, done() for
// any stop path, and a drain escalated to a hard stop.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createActivityWorker, type FleetMember, type FleetWorkerView } from "../../worker-sdk/index.js";
import { gate, makeFixture, spec, stage, until } from "../remote/helpers/fixture.js";

function recordingMember() {
  const events: string[] = [];
  let view: FleetWorkerView | null = null;
  const inFlightSeen: number[] = [];
  const member: FleetMember = {
    async join(v) {
      view = v;
      events.push("join");
    },
    changed() {
      if (view) inFlightSeen.push(view.getStats().inFlight);
    },
    async leave() {
      events.push(`leave:${view?.getStats().status}:${view?.getStats().inFlight}`);
    },
  };
  return { member, events, inFlightSeen, view: () => view! };
}

test("join gets the worker's identity; changes follow in-flight; leave sees the final state once", async () => {
  const f = await makeFixture();
  const go = gate();
  const heavy = stage("heavy", async (ctx) => {
    await go.promise;
    return { output: { r: ctx.input.n } };
  });
  const m = recordingMember();
  const w = createActivityWorker({
    transport: f.transport.worker,
    queue: "q",
    stageCodeVersion: "v1",
    registry: { heavy },
    workerId: "w-hooks",
    labels: { gpu: "true" },
    maxConcurrentTasks: 2,
    pollWaitMs: 50,
    fleet: m.member,
  });
  await f.broker.submit(spec({ kernelAttempt: 1 }));
  await f.broker.submit(spec({ kernelAttempt: 2 }));
  w.start();
  await until(() => m.events.includes("join"), 2_000, "join");
  const v = m.view();
  assert.equal([v.workerId, v.queue, v.stageCodeVersion, v.maxConcurrentTasks, v.labels], ["w-hooks", "q", "v1", 2, { gpu: "true" }]);
  await until(() => w.getStats().inFlight === 2, 3_000, "two in flight");
  assert.ok(m.inFlightSeen.includes(2), `change notices carried the in-flight count: ${m.inFlightSeen.join(",")}`);
  go.open();
  await until(() => w.getStats().completed === 2, 3_000, "two completions");
  assert.is(m.inFlightSeen.at(-1), 0);
  await Promise.all([w.stop(), w.stop()]);
  await w.done();
  assert.equal(m.events, ["join", "leave:stopped:0"], "one leave, after the final state");
});

test("a drain requested through the view resolves done(); a hard stop escalates a drain in progress", async () => {
  const f = await makeFixture();
  const entered = gate();
  const heavy = stage("heavy", async (ctx) => {
    entered.open();
    await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true }));
    return { output: { r: 0 } };
  });
  const m = recordingMember();
  const w = createActivityWorker({
    transport: f.transport.worker,
    queue: "q",
    stageCodeVersion: "v1",
    registry: { heavy },
    workerId: "w-esc",
    pollWaitMs: 50,
    fleet: m.member,
  });
  const id = await f.broker.submit(spec());
  w.start();
  await entered.promise;
  let done = false;
  void w.done().then(() => (done = true));
  const draining = m.view().stop({ drain: true });
  await until(() => w.getStats().status === "draining", 2_000, "draining");
  assert.is(done, false, "the drain waits for the parked activity");
  await m.view().stop({ drain: false }); // escalation: the activity is aborted and released
  await draining;
  assert.is(done, true);
  assert.is(w.getStats().released, 1);
  assert.is((await f.broker.getOutcome(id))?.status, "pending");
  assert.equal(m.events, ["join", "leave:stopped:0"]);
});

test("a worker stopped before it started resolves done() without joining or leaving", async () => {
  const f = await makeFixture();
  const m = recordingMember();
  const w = createActivityWorker({
    transport: f.transport.worker,
    queue: "q",
    stageCodeVersion: "v1",
    registry: { heavy: stage("heavy", async () => ({ output: { r: 0 } })) },
    workerId: "w-idle",
    fleet: m.member,
  });
  await w.stop();
  await w.done();
  assert.is(w.getStats().status, "stopped");
  assert.equal(m.events, []);
});

test.run();

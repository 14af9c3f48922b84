// Behaviour specific to the in-memory adapters (the shared behaviour is in the conformance files).
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  CollectingEventSink,
  FAKE_CLOCK_START,
  FakeClock,
  InMemoryJobQueue,
  InMemoryPersistence,
  NoopScheduler,
} from "../../src/testing/index.js";
import type { JobSpec, WorkflowEvent } from "../../src/ports/index.js";

const job = (jobId: string, priority = 0, availableAt?: Date): JobSpec => ({
  jobId,
  workflowRunId: "r",
  workflowId: "wf",
  stageId: "s",
  attempt: 1,
  maxAttempts: 3,
  priority,
  payload: {},
  ...(availableAt ? { availableAt } : {}),
});
const event = (id: string, type: WorkflowEvent["type"] = "workflow:started"): WorkflowEvent => ({
  id,
  type,
  workflowRunId: "r",
  workflowId: "wf",
  timestamp: "2026-01-01T00:00:00.000Z",
  data: {},
});

test("FakeClock starts at a fixed instant, advances and jumps only when told", () => {
  const c = new FakeClock();
  assert.equal(c.now(), FAKE_CLOCK_START);
  const d = c.now();
  d.setTime(0);
  assert.equal(c.now(), FAKE_CLOCK_START, "mutating a returned Date does not move the clock");
  assert.equal(c.advance(1500).getTime(), FAKE_CLOCK_START.getTime() + 1500);
  c.set(new Date("2030-05-05T00:00:00Z"));
  assert.equal(c.now().toISOString(), "2030-05-05T00:00:00.000Z");
  assert.throws(() => c.advance(-1), /ms must be a finite number >= 0/);
  assert.equal(new FakeClock(42).now().getTime(), 42);
});

test("CollectingEventSink de-duplicates by id, waits for a match, and times out with a clear message", async () => {
  const sink = new CollectingEventSink();
  await sink.publish(event("e1"));
  await sink.publish(event("e1"));
  assert.equal(sink.events.length, 1);
  assert.equal(sink.duplicates, 1);
  assert.equal((await sink.waitFor((e) => e.id === "e1", 10)).id, "e1", "already collected events match at once");
  const waiting = sink.waitFor((e) => e.type === "workflow:completed", 2_000);
  await sink.publish(event("e2", "workflow:completed"));
  assert.equal((await waiting).id, "e2");
  try {
    await sink.waitFor((e) => e.type === "workflow:failed", 30);
    assert.unreachable("should time out");
  } catch (err) {
    assert.match(
      String((err as Error).message),
      "no matching event within 30ms; 2 event(s) collected: workflow:started, workflow:completed",
    );
  }
  sink.clear();
  assert.equal(sink.events, []);
  sink.failWith(() => new Error("sink down"));
  try {
    await sink.publish(event("e3"));
    assert.unreachable("should fail");
  } catch (err) {
    assert.is((err as Error).message, "sink down");
  }
  sink.failWith(null);
  await sink.publish(event("e3"));
  assert.equal(
    sink.ofType("workflow:started").map((e) => e.id),
    ["e3"],
  );
});

test("NoopScheduler records what it was asked to schedule", async () => {
  const s = new NoopScheduler();
  await s.schedule({ type: "outbox.flush" } as never, new Date(5));
  assert.equal(s.scheduled, [{ command: { type: "outbox.flush" }, runAt: new Date(5) }]);
});

test("InMemoryJobQueue: a waiting dequeue wakes on enqueue, not at the end of waitMs", async () => {
  const q = new InMemoryJobQueue();
  const start = performance.now();
  const pending = q.dequeue({ workerId: "w", waitMs: 10_000 });
  await q.enqueue([job("a")]);
  assert.is((await pending)?.jobId, "a");
  assert.ok(performance.now() - start < 500);
});

test("InMemoryJobQueue: a waiting dequeue wakes when a delayed job falls due", async () => {
  const q = new InMemoryJobQueue();
  const start = performance.now();
  await q.enqueue([job("later", 0, new Date(Date.now() + 120))]);
  const got = await q.dequeue({ workerId: "w", waitMs: 5_000 });
  const took = performance.now() - start;
  assert.is(got?.jobId, "later");
  assert.ok(took >= 100 && took < 1_000, `took ${took}ms`);
});

test("InMemoryJobQueue: close() wakes waiters with null and refuses enqueues", async () => {
  const q = new InMemoryJobQueue();
  const pending = q.dequeue({ workerId: "w", waitMs: 10_000 });
  await q.close();
  assert.is(await pending, null);
  try {
    await q.enqueue([job("x")]);
    assert.unreachable("should refuse");
  } catch (err) {
    assert.match(String(err), /closed/);
  }
});

test("InMemoryJobQueue: priority first, availableAt against the injected clock, de-dup window", async () => {
  const clock = new FakeClock();
  const q = new InMemoryJobQueue({ clock, leaseMs: 1_000, dedupeWindowMs: 5_000 });
  await q.enqueue([job("low", 1), job("high", 9), job("future", 100, new Date(clock.now().getTime() + 60_000))]);
  assert.equal(q.stats(), { ready: 3, leased: 0, pendingDeadLetters: 0 });
  assert.is(await q.depth(), 3);
  const a = await q.dequeue({ workerId: "w" });
  const b = await q.dequeue({ workerId: "w" });
  assert.equal([a?.jobId, b?.jobId], ["high", "low"]);
  assert.is(await q.dequeue({ workerId: "w" }), null, "future job not yet due");
  clock.advance(60_000);
  assert.is((await q.dequeue({ workerId: "w" }))?.jobId, "future");
  await q.complete(a!);
  await q.enqueue([job("high")]);
  assert.is(q.stats().ready, 0, "completed id remembered");
  clock.advance(5_001);
  await q.enqueue([job("high")]);
  assert.is(q.stats().ready, 1, "forgotten after the de-dup window");
  assert.is(q.enqueued.length, 5);
});

test("InMemoryJobQueue: fake-clock lease expiry and dead letters through releaseStale", async () => {
  const clock = new FakeClock();
  const q = new InMemoryJobQueue({ clock, leaseMs: 1_000, maxDeliveries: 2 });
  await q.enqueue([job("j")]);
  const d1 = await q.dequeue({ workerId: "w" });
  assert.equal(d1?.leaseExpiresAt, new Date(FAKE_CLOCK_START.getTime() + 1_000));
  assert.equal(await q.releaseStale(clock.now(), 0), { released: 0, deadLettered: [] });
  clock.advance(1_000);
  assert.is((await q.releaseStale(clock.now(), 500)).released, 0, "threshold gives the holder grace");
  assert.is((await q.releaseStale(clock.now(), 0)).released, 1);
  const d2 = await q.dequeue({ workerId: "w" });
  assert.is(d2?.deliveryCount, 2);
  clock.advance(1_000);
  const { deadLettered } = await q.releaseStale(clock.now(), 0);
  assert.is(deadLettered.length, 1);
  assert.is(deadLettered[0]?.job.jobId, "j");
  assert.match(deadLettered[0]!.reason, /delivery 2 of 2/);
  assert.equal(q.stats(), { ready: 0, leased: 0, pendingDeadLetters: 0 });
});

test("InMemoryPersistence: values are deep-copied in and out", async () => {
  const p = new InMemoryPersistence();
  const config = { s: { list: [1] } };
  const run = await p.createRun({ id: "r1", workflowId: "wf", input: null, config, priority: 0, traceContext: null, now: new Date(0) });
  config.s.list.push(2);
  (run.config.s as { list: number[] }).list.push(3);
  const listed = await p.listRuns({});
  (listed[0]!.config.s as { list: number[] }).list.push(4);
  assert.equal((await p.getRun("r1"))?.config, { s: { list: [1] } });
});

test("InMemoryPersistence: calling the Persistence object inside transaction() throws instead of deadlocking", async () => {
  const p = new InMemoryPersistence();
  try {
    await p.transaction(async () => {
      await p.getRun("x");
    });
    assert.unreachable("should throw");
  } catch (err) {
    assert.match(String(err), /use the tx handle/);
  }
  // The mutex was released: normal calls still work.
  assert.is(await p.getRun("x"), null);
});

test("InMemoryPersistence: a tx handle used after its transaction ended throws", async () => {
  const p = new InMemoryPersistence();
  let leaked: Parameters<Parameters<typeof p.transaction>[0]>[0] | undefined;
  await p.transaction(async (tx) => {
    leaked = tx;
  });
  try {
    await leaked!.getRun("x");
    assert.unreachable("should throw");
  } catch (err) {
    assert.match(String(err), /after its transaction ended/);
  }
});

test("InMemoryPersistence: transactions are serialised (no interleaving of read-modify-write)", async () => {
  const p = new InMemoryPersistence();
  await p.createRun({ id: "r", workflowId: "wf", input: null, config: {}, priority: 0, traceContext: null, now: new Date(0) });
  await Promise.all(
    Array.from({ length: 20 }, () =>
      p.transaction(async (tx) => {
        const r = await tx.getRun("r", { forUpdate: true });
        await new Promise((res) => setImmediate(res));
        await tx.updateRun("r", { currentGroupIndex: r!.currentGroupIndex + 1 }, new Date(1));
      }),
    ),
  );
  assert.is((await p.getRun("r"))?.currentGroupIndex, 19, "-1 + 20 increments, none lost");
});

test.run();

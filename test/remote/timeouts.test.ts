/**
 * Temporal-style timeouts of remote tasks (issue 18, docs/flow-control.md), on the broker with a
 * fake clock: each timer ends what it should (an attempt, retried; or the task), and every failure
 * and refused heartbeat names the timer that fired.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakeClock } from "../../src/testing/fake-clock.js";
import { ValidationError } from "../../src/contract/errors.js";
import { defineRemoteStage } from "../../src/remote/remote-stage.js";
import { makeFixture, spec, stage } from "./helpers/fixture.js";

type Fix = Awaited<ReturnType<typeof makeFixture>>;

const start = async (f: Fix, taskId: string, attempt: number) => {
  const t = await f.store.getTask(taskId);
  const r = await f.broker.handleHeartbeat({
    start: true,
    taskId,
    attempt,
    workerId: `w${attempt}`,
    codeVersion: "v1",
    capability: t?.capability,
  });
  return { ...r, leaseToken: r.leaseToken ?? "" };
};
const beat = (f: Fix, taskId: string, attempt: number, leaseToken: string, details?: unknown) =>
  f.broker.handleHeartbeat({ taskId, attempt, leaseToken, workerId: `w${attempt}`, ...(details !== undefined ? { details } : {}) });

test("startToClose: an attempt still heartbeating past it loses its lease, the next attempt runs, the last one fails naming it", async () => {
  const clock = new FakeClock();
  const f = await makeFixture({ clock, leaseMs: 60_000 });
  const id = await f.broker.submit(spec({ maxAttempts: 2, timeouts: { startToCloseMs: 5_000 } }));
  const s1 = await start(f, id, 1);
  assert.ok(s1.accepted);
  clock.advance(3_000);
  assert.ok((await beat(f, id, 1, s1.leaseToken)).accepted, "alive and within the timer");
  clock.advance(2_000);
  const refused = await beat(f, id, 1, s1.leaseToken, { step: 9 });
  assert.is(refused.accepted, false);
  assert.match(refused.reason ?? "", /^startToClose timeout/);
  // The lease ended at the timer, not after leaseMs: the redelivery may start now.
  clock.advance(1);
  const r1 = await f.broker.reapExpired();
  assert.equal(r1.failed, []);
  assert.is(r1.leasesExpired, 1, "attempt 1 is lost, the task is retried");
  // The old message's redelivery is superseded: the task goes out anew, and that message opens attempt 2.
  assert.match((await start(f, id, 2)).reason ?? "", /^superseded/);
  const s2 = await start(f, id, 2);
  assert.ok(s2.accepted, `attempt 2 starts: ${s2.reason ?? ""}`);
  clock.advance(5_001);
  const r2 = await f.broker.reapExpired();
  assert.equal(
    r2.failed.map((x) => x.taskId),
    [id],
  );
  assert.match(
    r2.failed[0]!.error,
    /attempts exhausted: attempt 2, the last of 2 allowed, \(worker w2\) hit its startToClose timeout \(5000 ms/,
  );
});

test("heartbeatTimeout: beats with details keep the attempt; liveness beats alone do not", async () => {
  const clock = new FakeClock();
  const f = await makeFixture({ clock, leaseMs: 60_000 });
  const id = await f.broker.submit(spec({ maxAttempts: 1, timeouts: { heartbeatTimeoutMs: 2_000 } }));
  const s = await start(f, id, 1);
  for (let i = 0; i < 5; i++) {
    clock.advance(1_500);
    assert.ok((await beat(f, id, 1, s.leaseToken, { step: i })).accepted, `progress beat ${i}`);
  }
  clock.advance(1_000);
  assert.ok((await beat(f, id, 1, s.leaseToken)).accepted, "a liveness beat within the timer is accepted");
  clock.advance(1_000);
  const refused = await beat(f, id, 1, s.leaseToken);
  assert.is(refused.accepted, false);
  assert.match(refused.reason ?? "", /^heartbeat timeout/);
  clock.advance(1);
  const r = await f.broker.reapExpired();
  assert.match(
    r.failed[0]?.error ?? "",
    /attempt 1, the last of 1 allowed, \(worker w1\) hit its heartbeat timeout \(no heartbeat with details for 2000 ms/,
  );
});

test("scheduleToStart: a task no worker started in time fails naming it; a late start is refused", async () => {
  const clock = new FakeClock();
  const f = await makeFixture({ clock });
  const id = await f.broker.submit(spec({ timeouts: { scheduleToStartMs: 1_000 } }));
  const other = await f.broker.submit(spec({ stageId: "other", timeouts: { scheduleToStartMs: 1_000 } }));
  assert.ok((await start(f, other, 1)).accepted);
  clock.advance(999);
  assert.equal((await f.broker.reapExpired()).failed, []);
  clock.advance(2);
  const late = await start(f, id, 1);
  assert.is(late.accepted, false);
  assert.match(late.reason ?? "", /^scheduleToStart timeout: no worker of queue "q" started the task within 1000 ms/);
  assert.match((await f.broker.getOutcome(id))!.error!, /^scheduleToStart timeout/);
  assert.is((await f.broker.getOutcome(other))!.status, "pending", "a started task is not affected");
});

test("scheduleToClose is the task deadline; its failure names it", async () => {
  const clock = new FakeClock();
  const f = await makeFixture({ clock });
  const id = await f.broker.submit(spec({ deadline: new Date(clock.now().getTime() + 60_000), timeouts: { scheduleToCloseMs: 3_000 } }));
  await start(f, id, 1);
  clock.advance(3_001);
  const r = await f.broker.reapExpired();
  assert.match(r.failed[0]?.error ?? "", /^scheduleToClose timeout: deadline exceeded/);
});

test("a remote stage refuses bad timeouts when it is defined", () => {
  const f = { submit: async () => "x", getOutcome: async () => null, waitForOutcome: async () => null, failTask: async () => {} };
  const bad = [{ startToCloseMs: 0 }, { heartbeatTimeoutMs: 1.5 }, { scheduleToStartMs: -1 }, { startToClose: 5 }];
  for (const timeouts of bad) {
    assert.throws(
      () =>
        defineRemoteStage(
          stage("s", async () => ({ output: { r: 1 } })),
          f,
          { queue: "q", stageCodeVersion: "v1", timeouts: timeouts as never },
        ),
      (e: unknown) => e instanceof ValidationError,
      JSON.stringify(timeouts),
    );
  }
});

test.run();

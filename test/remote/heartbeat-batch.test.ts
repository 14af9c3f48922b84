// A batch of beats on the heartbeat subject: each beat is checked as a single one (attempt and
// broker-issued token), so a forged or stale beat in a batch is refused alone while its
// neighbours' leases are extended; a malformed or oversized batch is a typed error naming the
// field and changes nothing.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ProtocolError } from "../../src/contract/protocol-error.js";
import { MAX_BEATS_PER_BATCH, type HeartbeatBatchReply } from "../../src/contract/heartbeat-batch.js";
import { FakeClock } from "../../src/testing/fake-clock.js";
import { makeFixture, spec } from "./helpers/fixture.js";

type Fix = Awaited<ReturnType<typeof makeFixture>>;

/** Submits a task of run `run` and opens its attempt 1 with the message's capability; returns its id and lease token. */
async function leased(f: Fix, run: string): Promise<{ taskId: string; leaseToken: string }> {
  const taskId = await f.broker.submit(spec({ workflowRunId: run }));
  const t = await f.store.getTask(taskId);
  const r = await f.broker.handleHeartbeat({
    start: true,
    taskId,
    attempt: 1,
    workerId: "w1",
    codeVersion: "v1",
    capability: t?.capability,
  });
  assert.ok(r.accepted, r.reason);
  return { taskId, leaseToken: r.leaseToken! };
}

const deadline = async (f: Fix, taskId: string) => (await f.store.getTask(taskId))!.leaseDeadline!.getTime();

test("each beat of a batch is answered in order; a forged token is refused alone and its task keeps its deadline", async () => {
  const clock = new FakeClock();
  const f = await makeFixture({ clock });
  const a = await leased(f, "run-a");
  const b = await leased(f, "run-b");
  const c = await leased(f, "run-c");
  const before = { a: await deadline(f, a.taskId), b: await deadline(f, b.taskId) };
  clock.advance(10_000);
  const body = {
    beats: [
      { taskId: a.taskId, attempt: 1, leaseToken: a.leaseToken, workerId: "w1" },
      { taskId: b.taskId, attempt: 1, leaseToken: c.leaseToken, workerId: "w1" }, // c's token on b's task
      { taskId: c.taskId, attempt: 1, leaseToken: c.leaseToken, workerId: "w1", details: { page: 3 } },
    ],
  };
  const { replies } = (await f.broker.handleHeartbeatBody(new TextEncoder().encode(JSON.stringify(body)))) as HeartbeatBatchReply;
  assert.equal(
    replies.map((r) => [r.accepted, r.cancelled, r.reason]),
    [
      [true, false, undefined],
      [false, false, "lease not held"],
      [true, false, undefined],
    ],
  );
  assert.is(await deadline(f, a.taskId), before.a + 10_000, "a's lease extended");
  assert.is(await deadline(f, b.taskId), before.b, "b's lease untouched by the forged beat");
  assert.equal((await f.store.getTask(c.taskId))!.heartbeatDetails, { page: 3 });
});

test("a malformed or oversized batch is a typed error naming the field, and extends no lease", async () => {
  const clock = new FakeClock();
  const f = await makeFixture({ clock });
  const a = await leased(f, "run-a");
  const before = await deadline(f, a.taskId);
  clock.advance(10_000);
  const good = { taskId: a.taskId, attempt: 1, leaseToken: a.leaseToken, workerId: "w1" };
  const bodies: [unknown, RegExp][] = [
    [{ beats: [] }, /beats/],
    [{ beats: [good, { ...good, attempt: "1" }] }, /beats\.1\.attempt/],
    [{ beats: Array.from({ length: MAX_BEATS_PER_BATCH + 1 }, () => good) }, /beats/],
    [{ beats: [good, { ...good, details: "a\u0000b" }] }, /beats\.1\.details/],
  ];
  for (const [body, field] of bodies) {
    try {
      await f.broker.handleHeartbeatBody(JSON.stringify(body));
      assert.unreachable("accepted");
    } catch (err) {
      assert.instance(err, ProtocolError);
      assert.match((err as Error).message, field);
    }
  }
  assert.is(await deadline(f, a.taskId), before, "no beat of a refused batch was applied");
});

test("a single beat or start on the same handler is answered as before", async () => {
  const f = await makeFixture();
  const a = await leased(f, "run-a");
  const r = await f.broker.handleHeartbeatBody({ taskId: a.taskId, attempt: 1, leaseToken: a.leaseToken, workerId: "w1" });
  assert.is((r as { accepted: boolean }).accepted, true);
});

test.run();

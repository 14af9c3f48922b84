// A remote task published again (reissue after a lapsed lease, re-dispatch of a stranded task)
// goes out in the band of the priority it was submitted with, not the normal band (#18).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakeClock } from "../../src/testing/fake-clock.js";
import { type PriorityBand, priorityBand } from "../../src/contract/priority.js";
import { makeFixture, spec } from "./helpers/fixture.js";

/** A fixture whose broker publishes through a recorder in front of the in-process transport. */
async function recordingFixture() {
  const clock = new FakeClock();
  const f = await makeFixture({ clock, leaseMs: 10_000 });
  const published: { taskId: string; band: PriorityBand; attemptBase: number | undefined }[] = [];
  const inner = f.transport.dispatcher;
  f.broker.attachDispatcher({
    async publish(task, o) {
      published.push({ taskId: task.taskId, band: priorityBand(task.priority), attemptBase: task.attemptBase });
      await inner.publish(task, o);
    },
    notifyCancelled: (notice) => inner.notifyCancelled(notice),
  });
  return { f, clock, published };
}

test("a high-priority task reissued after its lease lapsed is published again in the high band", async () => {
  const { f, clock, published } = await recordingFixture();
  const id = await f.broker.submit(spec({ priority: 5, maxAttempts: 5 }));
  const cap = (await f.store.getTask(id))!.capability!;
  const begin = (attempt: number) =>
    f.broker.handleHeartbeat({ start: true, taskId: id, attempt, workerId: "w", codeVersion: "v1", capability: cap });
  assert.ok((await begin(1)).accepted);
  clock.advance(20_000); // the holder went silent: its lease lapsed
  assert.match((await begin(2)).reason!, /^superseded/, "the old message is refused and the task goes out anew");
  assert.equal(published, [
    { taskId: id, band: "high", attemptBase: undefined },
    { taskId: id, band: "high", attemptBase: 1 },
  ]);
});

test("stranded tasks are re-dispatched in the band of their own priority", async () => {
  const { f, clock, published } = await recordingFixture();
  const high = await f.broker.submit(spec({ stageId: "high", priority: 5 }));
  const low = await f.broker.submit(spec({ stageId: "low", priority: -3 }));
  const normal = await f.broker.submit(spec({ stageId: "normal" }));
  const cap = (await f.store.getTask(high))!.capability!;
  const started = await f.broker.handleHeartbeat({
    start: true,
    taskId: high,
    attempt: 1,
    workerId: "w",
    codeVersion: "v1",
    capability: cap,
  });
  assert.ok(started.accepted);
  published.length = 0;
  clock.advance(20_000); // the lease ended at 10 s; no delivery took any of them since
  assert.is(await f.broker.redispatchStranded({ olderThanMs: 5_000 }), 3);
  // An object, not a Map: uvu prints a readable diff of it.
  assert.equal(Object.fromEntries(published.map((p) => [p.taskId, [p.band, p.attemptBase]])), {
    [high]: ["high", 1],
    [low]: ["low", undefined],
    [normal]: ["normal", undefined],
  });
});

test("a message rebuilt from the stored task carries its priority; priority 0 leaves it out", async () => {
  const { f } = await recordingFixture();
  const high = await f.broker.submit(spec({ stageId: "high", priority: 7 }));
  const normal = await f.broker.submit(spec({ stageId: "normal", priority: 0 }));
  assert.is(f.broker.toTaskMessage((await f.store.getTask(high))!).priority, 7);
  assert.ok(!("priority" in f.broker.toTaskMessage((await f.store.getTask(normal))!)));
});

test("submit refuses a priority outside int4, naming it, before storing the task", async () => {
  const { f, published } = await recordingFixture();
  for (const priority of [2 ** 31, 0.5]) {
    await f.broker.submit(spec({ stageId: `bad-${priority}`, priority })).then(
      () => assert.unreachable(`priority ${priority} accepted`),
      (err: Error & { code?: string }) => {
        assert.is(err.code, "VALIDATION");
        assert.match(err.message, /priority/);
      },
    );
  }
  assert.is((await f.store.listTasks({})).length, 0);
  assert.equal(published, []);
});

test.run();

import { test } from "uvu";
import * as assert from "uvu/assert";
import { OutboxMarks } from "../../src/kernel/outbox-marks.js";
import { silentLogger } from "../../src/ports/logger.js";
import { TestClock } from "./support/fakes.js";
import { makeEnv, stage, workflow } from "./support/harness.js";

/** A markOutboxPublished that records each call and can be held open. */
function recorder() {
  const calls: string[][] = [];
  let gate: Promise<void> | null = null;
  return {
    calls,
    hold() {
      let open!: () => void;
      gate = new Promise<void>((r) => (open = r));
      return () => {
        gate = null;
        open();
      };
    },
    async markOutboxPublished(ids: string[]) {
      calls.push([...ids]);
      if (gate) await gate;
    },
  };
}

test("ids queued in one turn share one statement; ids queued while it runs share the next", async () => {
  const store = recorder();
  const marks = new OutboxMarks(store, new TestClock(), silentLogger);
  const release = store.hold();
  marks.add(["a"]);
  marks.add(["b", "c"]);
  await new Promise((r) => setImmediate(r));
  assert.equal(store.calls, [["a", "b", "c"]]);
  marks.add(["d"]);
  marks.add(["e"]);
  release();
  await marks.drain();
  assert.equal(store.calls, [
    ["a", "b", "c"],
    ["d", "e"],
  ]);
});

test("with a delay, ids queued on separate turns wait and share one statement; drain writes them at once", async () => {
  const store = recorder();
  // A delay no test outlives: only drain() can write these.
  const marks = new OutboxMarks(store, new TestClock(), silentLogger, 3_600_000);
  marks.add(["a"]);
  await new Promise((r) => setImmediate(r));
  marks.add(["b"]);
  await new Promise((r) => setImmediate(r));
  assert.equal(store.calls, [], "nothing written before the delay ends");
  await marks.drain();
  assert.equal(store.calls, [["a", "b"]]);
});

test("a failed mark is logged, not thrown, and later ids are still marked", async () => {
  const calls: string[][] = [];
  const errors: string[] = [];
  const logger = { ...silentLogger, error: (_o: object, msg: string) => void errors.push(msg) };
  let fail = true;
  const store = {
    async markOutboxPublished(ids: string[]) {
      calls.push(ids);
      if (fail) throw new Error("db down");
    },
  };
  const marks = new OutboxMarks(store, new TestClock(), logger);
  marks.add(["a"]);
  await marks.drain();
  fail = false;
  marks.add(["b"]);
  await marks.drain();
  assert.equal(calls, [["a"], ["b"]]);
  assert.equal(errors, ["could not mark outbox rows published"]);
});

test("outbox.flush never redelivers rows whose fast-path mark is still queued", async () => {
  const env = makeEnv([workflow("wf", [stage({ id: "s", execute: async () => ({ output: 1 }) })])], { options: { outboxClaimMs: 0 } });
  await env.create("wf", {});
  // Claims expire at once (outboxClaimMs 0), so only the drained marks keep the flusher away.
  const flushed = await env.kernel.dispatch({ type: "outbox.flush" });
  assert.is(flushed.published, 0);
  assert.equal(env.sink.types(), ["workflow:created"]);
});

test.run();

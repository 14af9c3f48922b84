// Lease refreshes due in the same turn of the event loop leave as one batch request, split at the
// batch limits; a lone refresh goes as a plain beat; an orchestrator that refuses batches as
// malformed turns batching off and loses no beat; a failed batch fails each of its beats.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LeaseRefreshBatcher, type LeaseRefreshSenders } from "../../worker-sdk/lease-refresh-batch.js";
import { silentWorkerLogger } from "../../worker-sdk/logger.js";
import { HeartbeatBatchRequest, MAX_BEATS_PER_BATCH } from "../../src/contract/heartbeat-batch.js";
import type { HeartbeatReply, HeartbeatRequest } from "../../src/contract/tasks.js";

const beat = (i: number): HeartbeatRequest => ({ taskId: `run.work.${i}`, attempt: 1, leaseToken: `token-${i}`, workerId: "w1" });
const ok = (b: HeartbeatRequest): HeartbeatReply => ({ accepted: true, cancelled: false, reason: b.taskId });

function recorder(o: { refuse?: boolean; fail?: boolean } = {}) {
  const batches: HeartbeatRequest[][] = [];
  const singles: HeartbeatRequest[] = [];
  const send: LeaseRefreshSenders = {
    async batch(body) {
      const { beats } = HeartbeatBatchRequest.parse(JSON.parse(new TextDecoder().decode(body)));
      batches.push(beats);
      if (o.refuse) throw Object.assign(new Error("heartbeat request: taskId required"), { code: "VALIDATION" });
      if (o.fail) throw new Error("UNAVAILABLE");
      return beats.map(ok);
    },
    async single(b) {
      singles.push(b);
      return ok(b);
    },
    refusedAsMalformed: (err) => (err as { code?: string }).code === "VALIDATION",
  };
  return { send, batches, singles };
}

test("refreshes of one turn go as one batch, each answered with its own reply", async () => {
  const r = recorder();
  const b = new LeaseRefreshBatcher(r.send, silentWorkerLogger);
  const replies = await Promise.all([1, 2, 3].map((i) => b.refresh(beat(i))));
  assert.equal(
    r.batches.map((x) => x.map((y) => y.taskId)),
    [["run.work.1", "run.work.2", "run.work.3"]],
  );
  assert.equal(
    replies.map((x) => x.reason),
    ["run.work.1", "run.work.2", "run.work.3"],
  );
  assert.is(r.singles.length, 0);
});

test("a lone refresh is a plain beat; refreshes of a later turn form their own batch", async () => {
  const r = recorder();
  const b = new LeaseRefreshBatcher(r.send, silentWorkerLogger);
  await b.refresh(beat(1));
  assert.equal(
    r.singles.map((x) => x.taskId),
    ["run.work.1"],
  );
  await Promise.all([b.refresh(beat(2)), b.refresh(beat(3))]);
  assert.is(r.batches.length, 1);
});

test("a tick with more due refreshes than a batch holds splits them", async () => {
  const r = recorder();
  const b = new LeaseRefreshBatcher(r.send, silentWorkerLogger);
  const n = MAX_BEATS_PER_BATCH * 2 + 1;
  const replies = await Promise.all(Array.from({ length: n }, (_, i) => b.refresh(beat(i))));
  assert.equal(
    r.batches.map((x) => x.length),
    [MAX_BEATS_PER_BATCH, MAX_BEATS_PER_BATCH],
  );
  assert.is(r.singles.length, 1, "the remainder of one goes as a plain beat");
  assert.is(replies.length, n);
  assert.ok(replies.every((x, i) => x.reason === `run.work.${i}`));
});

test("an orchestrator without batches: the refused beats go one by one, and so does every later one", async () => {
  const r = recorder({ refuse: true });
  const b = new LeaseRefreshBatcher(r.send, silentWorkerLogger);
  const replies = await Promise.all([1, 2].map((i) => b.refresh(beat(i))));
  assert.ok(replies.every((x) => x.accepted));
  assert.equal(
    r.singles.map((x) => x.taskId),
    ["run.work.1", "run.work.2"],
  );
  await Promise.all([3, 4].map((i) => b.refresh(beat(i))));
  assert.is(r.batches.length, 1, "no second batch is tried");
  assert.is(r.singles.length, 4);
});

test("a batch that fails (broker unreachable) fails each of its beats; none is dropped silently", async () => {
  const r = recorder({ fail: true });
  const b = new LeaseRefreshBatcher(r.send, silentWorkerLogger);
  const settled = await Promise.allSettled([1, 2].map((i) => b.refresh(beat(i))));
  assert.equal(
    settled.map((s) => s.status),
    ["rejected", "rejected"],
  );
  assert.is(r.singles.length, 0);
});

test("a beat that cannot be encoded fails alone, before it joins a batch", async () => {
  const r = recorder();
  const b = new LeaseRefreshBatcher(r.send, silentWorkerLogger);
  const bad = { ...beat(9), details: "a\u0000b" };
  const [failed] = await Promise.allSettled([b.refresh(bad), b.refresh(beat(1)), b.refresh(beat(2))]);
  assert.match(String((failed as PromiseRejectedResult).reason), /heartbeat request/);
  assert.equal(
    r.batches[0]!.map((x) => x.taskId),
    ["run.work.1", "run.work.2"],
  );
});

test.run();

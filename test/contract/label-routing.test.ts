/**
 * Label routing by subject (issue 18): the label key is canonical (order-free) and injective, the
 * unlabelled subject and consumer are unchanged, a worker serves exactly the label sets its labels
 * satisfy, and its credential may pull exactly those consumers.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { labelKey, labelSubsets, taskConsumerName } from "../../src/contract/label-routing.js";
import { createTopology } from "../../src/contract/topology.js";
import { ProtocolError } from "../../src/contract/protocol-error.js";
import { workerPermissions } from "../../adapters/jetstream/auth/worker-permissions.js";
import { TaskSources } from "../../worker-sdk/task-sources.js";

const topology = createTopology();

test("unlabelled tasks keep their subject and consumer; a label set gets its own", () => {
  assert.is(topology.taskSubject("render", "v1"), "jetflow.tasks.render.v1");
  assert.is(topology.taskSubject("render", "v1", {}), "jetflow.tasks.render.v1");
  assert.is(taskConsumerName("render", "v1"), "tasks-render~~v1");
  assert.is(topology.taskSubject("render", "v1", { gpu: "true" }), "jetflow.tasks.render.v1.gpu~~true");
  assert.is(taskConsumerName("render", "v1", { gpu: "true" }), "tasks-render~~v1~~gpu~~true");
});

test("the label key does not depend on key order and never merges two label sets", () => {
  assert.is(labelKey({ os: "linux", gpu: "true" }), labelKey({ gpu: "true", os: "linux" }));
  assert.is(labelKey({}), null);
  const sets: Record<string, string>[] = [
    { a: "b,c=d" },
    { a: "b", c: "d" },
    { "a.b": "c" },
    { a: "b.c" },
    { "a~~b": "c" },
    { a: "~~b~~c" },
    { a: "b~~c" },
  ];
  const keys = sets.map((s) => labelKey(s));
  assert.is(new Set(keys).size, sets.length, keys.join(" | "));
  for (const k of keys) assert.match(k!, /^[A-Za-z0-9_~-]+$/, "one safe subject token");
  assert.throws(
    () => labelKey({ gpu: "" }),
    (e: unknown) => e instanceof ProtocolError,
  );
});

test("a worker serves every subset of its labels, unlabelled first; more than 6 labels need an explicit list", () => {
  const subsets = labelSubsets({ gpu: "true", os: "linux" });
  assert.equal(subsets, [{}, { gpu: "true" }, { os: "linux" }, { gpu: "true", os: "linux" }]);
  const seven = Object.fromEntries([..."abcdefg"].map((k) => [k, "1"]));
  assert.throws(
    () => labelSubsets(seven),
    (e: unknown) => e instanceof ProtocolError && /list the label sets/.test(e.message),
  );
  const listed = new TaskSources(topology, "q", "v1", seven, [{ a: "1" }]);
  assert.equal(
    listed.all.filter((s) => s.band === "normal").map((s) => s.consumer),
    ["tasks-q~~v1", "tasks-q~~v1~~a~~1"],
  );
  assert.throws(() => new TaskSources(topology, "q", "v1", { a: "1" }, [{ a: "2" }]), /not satisfied/);
});

test("task sources: one consumer per band and label set; label sets rotate within a band; a silent label set is skipped until its recheck", () => {
  const s = new TaskSources(topology, "q", "v1", { gpu: "true" });
  assert.equal(
    s.all.map((x) => x.consumer),
    [
      "tasks-q~~v1~~high",
      "tasks-q~~v1~~gpu~~true~~high",
      "tasks-q~~v1",
      "tasks-q~~v1~~gpu~~true",
      "tasks-q~~v1~~low",
      "tasks-q~~v1~~gpu~~true~~low",
    ],
  );
  const [, , plain, gpu] = s.all;
  assert.ok(s.multiple);
  assert.equal(s.round("normal", 0), [plain, gpu]);
  assert.equal(s.round("normal", 0), [gpu, plain]);
  assert.equal(s.round("normal", 0), [plain, gpu]);
  s.silent(gpu!, 0);
  // Its whole label set is skipped (the bands' consumers are created together), the others are not.
  assert.equal(s.round("normal", 1), [plain]);
  assert.equal(s.round("high", 1), [s.all[0]]);
  assert.equal(s.round("normal", 5_000).length, 2, "rechecked after 5 s");
  s.answered(gpu!);
  s.silent(plain!, 5_000);
  assert.equal(s.round("normal", 9_000), [gpu], "an answered source is not skipped with its set");
  assert.equal(s.round("normal", 10_000).length, 2, "first silence: 5 s");
});

test("a worker credential may pull (and ack) exactly the consumers of the label sets its labels satisfy", () => {
  const p = workerPermissions(topology, { queue: "render", codeVersion: "v1", name: "w1", workerId: "w1", labels: { gpu: "true" } });
  const next = p.publish.filter((s) => s.startsWith("$JS.API.CONSUMER.MSG.NEXT."));
  assert.equal(next, [
    "$JS.API.CONSUMER.MSG.NEXT.JETFLOW_TASKS.tasks-render~~v1",
    "$JS.API.CONSUMER.MSG.NEXT.JETFLOW_TASKS.tasks-render~~v1~~gpu~~true",
    "$JS.API.CONSUMER.MSG.NEXT.JETFLOW_TASKS.tasks-render~~v1~~high",
    "$JS.API.CONSUMER.MSG.NEXT.JETFLOW_TASKS.tasks-render~~v1~~gpu~~true~~high",
    "$JS.API.CONSUMER.MSG.NEXT.JETFLOW_TASKS.tasks-render~~v1~~low",
    "$JS.API.CONSUMER.MSG.NEXT.JETFLOW_TASKS.tasks-render~~v1~~gpu~~true~~low",
  ]);
  assert.ok(p.publish.includes("$JS.ACK.JETFLOW_TASKS.tasks-render~~v1~~gpu~~true~~high.>"));
  assert.ok(p.publish.includes("$JS.ACK.JETFLOW_TASKS.tasks-render~~v1~~gpu~~true.>"));
  const plain = workerPermissions(topology, { queue: "render", codeVersion: "v1", name: "w2", workerId: "w2" });
  assert.not.ok(
    plain.publish.some((s) => s.includes("gpu")),
    "an unlabelled worker cannot pull gpu tasks",
  );
});

test.run();

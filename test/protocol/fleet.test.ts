// The fleet wire names and schemas: registry keys and control subjects are safe subject tokens,
// records validate with field-named errors, and workersServing picks who can run a labelled task.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  controlFilter,
  controlSubject,
  parseControlReply,
  parseWorkerRecord,
  workerRegistryBucket,
  workerRegistryKey,
  workersServing,
  type WorkerRecord,
} from "../../src/contract/fleet.js";

const record = (over: Partial<WorkerRecord & { healthy: boolean }> = {}): WorkerRecord & { healthy: boolean } => ({
  v: 1,
  id: "w1",
  host: "h",
  queue: "render",
  labels: {},
  stageCodeVersion: "v1",
  maxConcurrentTasks: 2,
  inFlight: 0,
  status: "running",
  startedAt: "2026-11-23T10:00:00.000Z",
  lastHeartbeat: "2026-11-23T10:00:30.000Z",
  heartbeatIntervalMs: 30_000,
  healthy: true,
  ...over,
});

test("bucket, key and subjects are subject-safe for any prefix, queue and worker id", () => {
  assert.is(workerRegistryBucket("jetflow"), "jetflow_workers");
  assert.is(workerRegistryBucket("acme.prod"), "acme_prod_workers");
  assert.is(workerRegistryKey("render.gpu", "host/1"), "render~2Egpu.host~2F1");
  assert.is(controlSubject("jetflow", "a.b", "drain"), "jetflow.ctl.a~2Eb.drain");
  assert.is(controlFilter("jetflow", "a.b"), "jetflow.ctl.a~2Eb.*");
});

test("a record round-trips; a bad one names its fields", () => {
  const ok = parseWorkerRecord(JSON.stringify(record()));
  assert.ok(ok.ok);
  const bad = parseWorkerRecord(JSON.stringify({ ...record(), status: "sleeping", inFlight: -1 }));
  assert.not.ok(bad.ok);
  if (!bad.ok) {
    assert.match(bad.error.message, /status/);
    assert.match(bad.error.message, /inFlight/);
  }
  assert.not.ok(parseControlReply("not json").ok);
});

test("workersServing: healthy running workers of the queue and version whose labels satisfy the task", () => {
  const workers = [
    record({ id: "gpu", labels: { gpu: "true", os: "linux" } }),
    record({ id: "cpu", labels: { os: "linux" } }),
    record({ id: "gpu-stale", labels: { gpu: "true" }, healthy: false }),
    record({ id: "gpu-draining", labels: { gpu: "true" }, status: "draining" }),
    record({ id: "gpu-v2", labels: { gpu: "true" }, stageCodeVersion: "v2" }),
    record({ id: "gpu-other-queue", labels: { gpu: "true" }, queue: "other" }),
  ];
  const ids = (req: Record<string, string>) =>
    workersServing(workers, { queue: "render", codeVersion: "v1", requiredLabels: req }).map((w) => w.id);
  assert.equal(ids({ gpu: "true" }), ["gpu"]);
  assert.equal(ids({}), ["gpu", "cpu"]);
  assert.equal(ids({ gpu: "false" }), [], "nobody can serve it: the caller reports it");
});

test.run();

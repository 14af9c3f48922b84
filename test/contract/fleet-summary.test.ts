// The fleet summary behind the jetflow.fleet.* gauges and `workers list`: a stale worker counts as
// unhealthy and adds neither in-flight nor capacity; a draining one adds in-flight but no capacity.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { summarizeFleet, type JudgedWorker } from "../../src/contract/fleet-summary.js";

const w = (o: Partial<JudgedWorker>): JudgedWorker => ({
  queue: "q",
  stageCodeVersion: "v1",
  status: "running",
  inFlight: 0,
  maxConcurrentTasks: 1,
  healthy: true,
  ...o,
});

test("per queue: workers by status, in-flight on live workers, capacity of the pulling ones", () => {
  const { queues, groups } = summarizeFleet([
    w({ inFlight: 2, maxConcurrentTasks: 4 }),
    w({ status: "draining", inFlight: 1, maxConcurrentTasks: 2 }),
    w({ healthy: false, inFlight: 3, maxConcurrentTasks: 8 }),
    w({ status: "stopped", maxConcurrentTasks: 16 }),
    w({ queue: "other", stageCodeVersion: "v2", status: "starting", maxConcurrentTasks: 3 }),
  ]);
  assert.equal(queues, [
    { queue: "other", byStatus: { starting: 1 }, inFlight: 0, capacity: 3 },
    { queue: "q", byStatus: { running: 1, draining: 1, unhealthy: 1, stopped: 1 }, inFlight: 3, capacity: 4 },
  ]);
  assert.equal(
    groups.map((g) => [g.queue, g.codeVersion, g.status, g.count]),
    [
      ["q", "v1", "running", 1],
      ["q", "v1", "draining", 1],
      ["q", "v1", "unhealthy", 1],
      ["q", "v1", "stopped", 1],
      ["other", "v2", "starting", 1],
    ],
  );
});

test.run();

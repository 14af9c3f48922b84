// `jetflow runs get` prints why a parked stage waits under the stage's line.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { describeRun } from "../../cli/commands/runs.js";

const at = "2026-01-01T00:00:00.000Z";
const stage = (stageId: string) => ({
  stageId,
  stageName: stageId,
  groupIndex: 0,
  status: "PENDING" as const,
  attempt: 0,
  maxAttempts: 3,
  error: null,
  nextPollAt: null,
  startedAt: null,
  completedAt: null,
});

test("a waiting stage's reason follows its line; a stage not waiting has none", () => {
  const out = describeRun({
    run: {
      id: "r1",
      workflowId: "w",
      status: "RUNNING",
      input: {},
      config: {},
      output: null,
      error: null,
      currentGroupIndex: 0,
      priority: 0,
      createdAt: at,
      updatedAt: at,
      startedAt: at,
      completedAt: null,
    },
    stages: [stage("render"), stage("notify")],
    waiting: [
      {
        stageId: "render",
        reason: "rate-limited",
        detail: 'rate limit "queue:r#rate" key "t1" (5/s) until 2026-01-01T00:00:01.000Z',
        retryAt: "2026-01-01T00:00:01.000Z",
        since: at,
      },
    ],
  });
  const lines = out.split("\n");
  const i = lines.findIndex((l) => l.includes("render"));
  assert.match(lines[i + 1]!, /waiting \(rate-limited\) since 2026-01-01T00:00:00.000Z: rate limit "queue:r#rate" key "t1" \(5\/s\) until/);
  assert.not.match(lines[i + 2] ?? "", /waiting/);
});

test("a remote task behind higher-priority work says so under its stage", () => {
  const out = describeRun({
    run: {
      id: "r2",
      workflowId: "w",
      status: "RUNNING",
      input: {},
      config: {},
      output: null,
      error: null,
      currentGroupIndex: 0,
      priority: -1,
      createdAt: at,
      updatedAt: at,
      startedAt: at,
      completedAt: null,
    },
    stages: [{ ...stage("render"), status: "SUSPENDED" as const }],
    waiting: [
      {
        stageId: "render",
        reason: "lower-priority",
        detail: 'behind 3 pending higher-priority task(s) on queue "q"',
        retryAt: null,
        since: at,
      },
    ],
  });
  assert.match(out, /waiting \(lower-priority\) since 2026-01-01T00:00:00.000Z: behind 3 pending higher-priority task\(s\) on queue "q"/);
});

test.run();

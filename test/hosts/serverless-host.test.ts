import { test } from "uvu";
import * as assert from "uvu/assert";
import { createServerlessHost, type JobMessage } from "../../src/hosts/index.js";
import { ValidationError } from "../../src/contract/errors.js";
import { FakeKernel, FakeTransport, collectingLogger } from "./fakes.js";

function setup() {
  const kernel = new FakeKernel();
  const transport = new FakeTransport();
  const logger = collectingLogger();
  const host = createServerlessHost({
    kernel,
    jobTransport: transport,
    workerId: "fn-1",
    logger,
    jobRetryBaseDelayMs: 500,
    jobRetryMaxDelayMs: 4000,
  });
  return { kernel, transport, logger, host };
}

const msg: JobMessage = { jobId: "r1:s:1", workflowRunId: "r1", workflowId: "wf", stageId: "s", attempt: 1, maxAttempts: 3, payload: {} };

test("handleJob executes the job with its delivery facts and transitions the run on completion", async () => {
  const { host, kernel } = setup();
  assert.equal(await host.handleJob({ ...msg, deliveryCount: 2 }), { outcome: "completed" });
  assert.equal(kernel.commands, [
    {
      type: "job.execute",
      workflowRunId: "r1",
      workflowId: "wf",
      stageId: "s",
      delivery: { jobId: "r1:s:1", deliveryCount: 2, attempt: 1 },
    },
    { type: "run.transition", workflowRunId: "r1" },
    // The kernel's batched published marks, written before the invocation returns.
    { type: "outbox.flush", maxEvents: 0 },
  ]);
});

test("handleJob reports a suspension with its next poll time and does not transition", async () => {
  const { host, kernel } = setup();
  const nextPollAt = new Date("2030-01-01T00:00:00Z");
  kernel.on("job.execute", () => ({ outcome: "suspended", nextPollAt }));
  assert.equal(await host.handleJob(msg), { outcome: "suspended", nextPollAt });
  assert.is(kernel.of("run.transition").length, 0);
});

test("a failed attempt is final for the platform (the kernel queues its own retry)", async () => {
  const { host, kernel } = setup();
  kernel.on("job.execute", () => ({ outcome: "failed", error: "bad input", retry: true, retryDelayMs: 100 }));
  assert.equal(await host.handleJob(msg), { outcome: "failed", retry: false, error: "bad input" });
});

test("job.execute throwing asks the platform to retry with backoff, and is logged", async () => {
  const { host, kernel, logger } = setup();
  kernel.on("job.execute", () => {
    throw new Error("db down");
  });
  assert.equal(await host.handleJob({ ...msg, deliveryCount: 3 }), {
    outcome: "failed",
    error: "db down",
    retry: true,
    retryDelayMs: 2000,
  });
  assert.ok(logger.entries.some((e) => e.level === "error" && e.obj.err === "db down"));
});

test("a transition failure after completion still reports completed (reapStuck repairs) and is logged", async () => {
  const { host, kernel, logger } = setup();
  kernel.on("run.transition", () => {
    throw new Error("lock timeout");
  });
  assert.equal(await host.handleJob(msg), { outcome: "completed" });
  assert.ok(logger.entries.some((e) => e.level === "error" && e.obj.err === "lock timeout"));
});

test("handleJob refuses a malformed message with a ValidationError naming the fields", async () => {
  const { host, kernel } = setup();
  try {
    await host.handleJob({ ...msg, jobId: "", attempt: 0 } as JobMessage);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ValidationError);
    assert.equal((err as ValidationError).issues.map((i) => i.path).sort(), ["attempt", "jobId"]);
  }
  assert.is(kernel.commands.length, 0);
});

test("processAvailableJobs takes one job by default, without waiting", async () => {
  const { host, transport } = setup();
  const a = transport.push();
  transport.push();
  assert.equal(await host.processAvailableJobs(), { processed: 1, succeeded: 1, failed: 0 });
  assert.equal(transport.dequeues, [{ workerId: "fn-1", waitMs: 0 }]);
  assert.equal(transport.calls, [{ op: "complete", jobId: a.jobId }]);
});

test("processAvailableJobs stops at an empty queue and counts outcomes", async () => {
  const { host, kernel, transport } = setup();
  const outcomes = [
    { outcome: "completed" as const },
    { outcome: "suspended" as const, nextPollAt: new Date() },
    { outcome: "failed" as const, error: "x" },
  ];
  kernel.on("job.execute", () => outcomes.shift()!);
  transport.push();
  transport.push();
  transport.push();
  assert.equal(await host.processAvailableJobs({ maxJobs: 10 }), { processed: 3, succeeded: 2, failed: 1 });
  assert.equal(
    transport.calls.map((c) => c.op),
    ["complete", "suspend", "complete"],
  );
  assert.is(transport.dequeues.length, 4);
});

test("processAvailableJobs refuses maxJobs < 1", async () => {
  const { host } = setup();
  try {
    await host.processAvailableJobs({ maxJobs: 0 });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ValidationError);
  }
});

test("runMaintenanceTick returns what each step did", async () => {
  const { host, kernel } = setup();
  kernel
    .on("run.claimPending", () => ({
      claimed: [
        { workflowRunId: "a", workflowId: "wf", jobIds: ["j"] },
        { workflowRunId: "b", workflowId: "wf", jobIds: ["k"] },
      ],
    }))
    .on("stage.pollSuspended", () => ({ checked: 4, resumed: 1, failed: 0, resumedRunIds: ["c"] }))
    .on("lease.reapStale", () => ({ released: 3, deadLettered: 0 }))
    .on("run.reapStuck", () => ({ inspected: 5, requeued: 1, failed: 1, runIds: ["d", "e"] }))
    .on("outbox.flush", () => ({ published: 7, failed: 0, deadLettered: 0 }))
    .on("stage.admitWaiting", () => ({ granted: 5, nextRetryAt: null }));
  assert.equal(await host.runMaintenanceTick(), {
    claimed: 2,
    suspendedChecked: 4,
    staleReleased: 3,
    eventsFlushed: 7,
    stuckReaped: 2,
    limitGranted: 5,
    errors: [],
  });
  // Resumed stages are transitioned by the kernel's pollSuspended, not again by the host.
  assert.is(kernel.of("run.transition").length, 0);
});

test("runMaintenanceTick isolates a failing step and reports it", async () => {
  const { host, kernel } = setup();
  kernel.on("lease.reapStale", () => {
    throw new Error("transport closed");
  });
  kernel.on("outbox.flush", () => ({ published: 2, failed: 0, deadLettered: 0 }));
  const r = await host.runMaintenanceTick();
  assert.equal(r.errors, [{ step: "lease.reapStale", error: "transport closed" }]);
  assert.is(r.eventsFlushed, 2);
  assert.is(kernel.of("run.reapStuck").length, 1);
});

test("the serverless host accepts a config shared with the node host and refuses unknown options", () => {
  const kernel = new FakeKernel();
  const jobTransport = new FakeTransport();
  createServerlessHost({ kernel, jobTransport, workerId: "fn", orchestrationIntervalMs: 1000, maxConcurrentJobs: 4 } as never);
  try {
    createServerlessHost({ kernel, jobTransport, workerId: "fn", maxClaimPerTick: 3 } as never);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ValidationError);
    assert.match((err as Error).message, /maxClaimPerTick/);
  }
});

test.run();

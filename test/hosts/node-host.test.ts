import { test } from "uvu";
import * as assert from "uvu/assert";
import { createNodeHost, type NodeHostConfig } from "../../src/hosts/index.js";
import { ValidationError } from "../../src/contract/errors.js";
import { FakeKernel, FakeTransport, collectingLogger, deferred, waitFor } from "./fakes.js";

function setup(extra: Partial<NodeHostConfig> = {}) {
  const kernel = new FakeKernel();
  const transport = new FakeTransport();
  const logger = collectingLogger();
  const host = createNodeHost({
    kernel,
    jobTransport: transport,
    workerId: "w-1",
    orchestrationIntervalMs: 20,
    jobPollIntervalMs: 10,
    handleSignals: false,
    logger,
    ...extra,
  });
  return { kernel, transport, logger, host };
}

test("getStats reports identity and counters; isRunning/uptime follow start and stop", async () => {
  const { host } = setup();
  assert.equal(host.getStats(), {
    workerId: "w-1",
    jobsProcessed: 0,
    jobsCompleted: 0,
    jobsSuspended: 0,
    jobsFailed: 0,
    jobsInFlight: 0,
    orchestrationTicks: 0,
    consecutiveTickFailures: 0,
    isRunning: false,
    uptimeMs: 0,
  });
  await host.start();
  await waitFor(() => host.getStats().orchestrationTicks >= 1, 2000, "first tick");
  assert.ok(host.getStats().isRunning);
  await host.stop();
  assert.not.ok(host.getStats().isRunning);
  assert.is(host.getStats().uptimeMs, 0);
});

test("a tick dispatches claim, poll, reap stale, reap stuck and flush with the configured limits", async () => {
  const { host, kernel } = setup({
    maxClaimsPerTick: 3,
    maxSuspendedChecksPerTick: 4,
    staleLeaseThresholdMs: 5000,
    stuckRunThresholdMs: 7000,
    maxOutboxFlushPerTick: 9,
  });
  await host.start();
  await waitFor(() => kernel.of("outbox.flush").length >= 1, 2000, "flush");
  await host.stop();
  const firstTick = kernel.commands.filter((c) => c.type !== "job.execute").slice(0, 6);
  assert.equal(firstTick, [
    { type: "run.claimPending", workerId: "w-1", maxClaims: 3 },
    { type: "stage.pollSuspended", maxChecks: 4 },
    { type: "lease.reapStale", staleThresholdMs: 5000 },
    { type: "run.reapStuck", stuckThresholdMs: 7000, maxRuns: 10 },
    { type: "stage.admitWaiting" },
    { type: "outbox.flush", maxEvents: 9 },
  ]);
});

test("a failing step is logged and does not skip the other steps", async () => {
  const { host, kernel, logger } = setup();
  kernel.on("run.claimPending", () => {
    throw new Error("connection refused");
  });
  await host.start();
  await waitFor(() => kernel.of("outbox.flush").length >= 1, 2000, "flush after failed claim");
  await host.stop();
  assert.ok(kernel.of("stage.pollSuspended").length >= 1);
  assert.ok(kernel.of("lease.reapStale").length >= 1);
  assert.ok(kernel.of("run.reapStuck").length >= 1);
  const stats = host.getStats();
  assert.is(stats.lastTickError?.step, "run.claimPending");
  assert.is(stats.lastTickError?.message, "connection refused");
  assert.ok(stats.consecutiveTickFailures >= 1);
  assert.ok(logger.entries.some((e) => e.level === "error" && e.obj.step === "run.claimPending" && e.obj.err === "connection refused"));
});

test("while steps fail the tick backs off exponentially up to the cap, and recovers when they succeed", async () => {
  const { host, kernel } = setup({ orchestrationIntervalMs: 10, maxTickBackoffMs: 80 });
  let down = true;
  const times: number[] = [];
  kernel.on("run.claimPending", () => {
    times.push(Date.now());
    if (down) throw new Error("db down");
    return { claimed: [] };
  });
  await host.start();
  await waitFor(() => times.length >= 6, 3000, "six failing ticks");
  down = false;
  await waitFor(() => host.getStats().consecutiveTickFailures === 0, 3000, "recovery");
  const gaps = times.slice(1, 6).map((t, i) => t - times[i]!);
  // 20, 40, 80 (cap), 80: each at least its backoff (timers never fire early), minus 1 ms rounding.
  assert.ok(gaps[0]! >= 19, `gap0 ${gaps}`);
  assert.ok(gaps[1]! >= 39, `gap1 ${gaps}`);
  assert.ok(gaps[2]! >= 79, `gap2 ${gaps}`);
  assert.ok(gaps[4]! >= 79 && gaps[4]! < 400, `capped ${gaps}`);
  assert.is(host.getStats().lastTickError, undefined);
  const afterRecovery = times.length;
  await waitFor(() => times.length >= afterRecovery + 3, 2000, "normal cadence");
  await host.stop();
});

test("a completed job is completed with the transport and followed by run.transition", async () => {
  const { host, kernel, transport } = setup();
  const job = transport.push({ deliveryCount: 2, attempt: 1 });
  await host.start();
  await waitFor(() => kernel.of("run.transition").length === 1, 2000, "transition");
  await host.stop();
  const exec = kernel.of("job.execute")[0]!;
  assert.equal(exec.delivery, { jobId: job.jobId, deliveryCount: 2, attempt: 1 });
  assert.is(exec.workflowRunId, job.workflowRunId);
  assert.is(exec.stageId, "stage");
  assert.instance(exec.signal, AbortSignal);
  assert.type(exec.onHeartbeat, "function");
  assert.equal(transport.calls, [{ op: "complete", jobId: job.jobId }]);
  assert.equal(kernel.of("run.transition")[0], { type: "run.transition", workflowRunId: job.workflowRunId });
  assert.is(host.getStats().jobsCompleted, 1);
  assert.is(host.getStats().jobsProcessed, 1);
});

test("a suspended job is handed to the transport with its next poll time; no transition", async () => {
  const { host, kernel, transport } = setup();
  const nextPollAt = new Date(Date.now() + 60_000);
  kernel.on("job.execute", () => ({ outcome: "suspended", nextPollAt }));
  const job = transport.push();
  await host.start();
  await waitFor(() => transport.calls.length === 1, 2000, "suspend");
  await host.stop();
  assert.equal(transport.calls, [{ op: "suspend", jobId: job.jobId, nextPollAt }]);
  assert.is(kernel.of("run.transition").length, 0);
  assert.is(host.getStats().jobsSuspended, 1);
});

test("a suspension due before the next tick brings that tick forward", async () => {
  const { host, kernel, transport } = setup({ orchestrationIntervalMs: 60_000 });
  kernel.on("job.execute", () => ({ outcome: "suspended", nextPollAt: new Date(Date.now() + 30) }));
  await host.start();
  await waitFor(() => kernel.of("stage.pollSuspended").length === 1, 2000, "first tick");
  transport.push();
  await waitFor(() => kernel.of("stage.pollSuspended").length === 2, 1500, "a second poll long before the 60 s interval");
  await host.stop();
});

test("failed attempts (kernel-scheduled retry, final, ghost) complete the job: never a transport redelivery", async () => {
  const { host, kernel, transport } = setup();
  const results = [
    { outcome: "failed" as const, retry: true, retryDelayMs: 1000, error: "boom" },
    { outcome: "failed" as const, error: "final" },
    { outcome: "failed" as const, ghost: true },
  ];
  kernel.on("job.execute", () => results.shift()!);
  const jobs = [transport.push(), transport.push(), transport.push()];
  await host.start();
  await waitFor(() => transport.calls.length === 3, 2000, "three settles");
  await host.stop();
  assert.equal(
    transport.calls,
    jobs.map((j) => ({ op: "complete", jobId: j.jobId })),
  );
  assert.is(kernel.of("run.transition").length, 0);
  assert.is(host.getStats().jobsFailed, 3);
});

test("job.execute throwing (infrastructure) fails the job for redelivery with backoff per delivery", async () => {
  const { host, kernel, transport, logger } = setup({ jobRetryBaseDelayMs: 100, jobRetryMaxDelayMs: 250 });
  kernel.on("job.execute", () => {
    throw new Error("database unavailable");
  });
  const a = transport.push({ deliveryCount: 1 });
  const b = transport.push({ deliveryCount: 3 });
  const c = transport.push({ deliveryCount: 9 });
  await host.start();
  await waitFor(() => transport.calls.length === 3, 2000, "three fails");
  await host.stop();
  assert.equal(transport.calls, [
    { op: "fail", jobId: a.jobId, error: "database unavailable", retry: true, delayMs: 100 },
    { op: "fail", jobId: b.jobId, error: "database unavailable", retry: true, delayMs: 250 },
    { op: "fail", jobId: c.jobId, error: "database unavailable", retry: true, delayMs: 250 },
  ]);
  assert.ok(logger.entries.some((e) => e.level === "error" && e.obj.err === "database unavailable"));
  assert.is(host.getStats().jobsFailed, 3);
});

test("stage heartbeats are throttled before they reach the transport", async () => {
  const { host, kernel, transport } = setup({ heartbeatIntervalMs: 60_000 });
  const release = deferred();
  kernel.on("job.execute", async (cmd) => {
    for (let i = 0; i < 100; i++) cmd.onHeartbeat?.();
    await release.promise;
    return { outcome: "completed" };
  });
  transport.push();
  await host.start();
  await waitFor(() => kernel.of("job.execute").length === 1, 2000, "execute");
  release.resolve();
  await waitFor(() => transport.ofOp("complete").length === 1, 2000, "complete");
  await host.stop();
  assert.is(transport.ofOp("heartbeat").length, 0, "first heartbeat window has not elapsed");
});

test("the host extends the lease periodically while a job runs, even if the stage never heartbeats", async () => {
  const { host, kernel, transport } = setup({ heartbeatIntervalMs: 5 });
  const release = deferred();
  kernel.on("job.execute", async () => {
    await release.promise;
    return { outcome: "completed" };
  });
  transport.push();
  await host.start();
  await waitFor(() => transport.ofOp("heartbeat").length >= 3, 2000, "periodic heartbeats");
  release.resolve();
  await waitFor(() => transport.ofOp("complete").length === 1, 2000, "complete");
  const beats = transport.ofOp("heartbeat").length;
  await host.stop();
  assert.is(transport.ofOp("heartbeat").length, beats, "heartbeat timer cleared with the job");
});

test("without a configured interval, heartbeats follow a third of the lease the transport granted", async () => {
  const { host, kernel, transport } = setup();
  const release = deferred();
  kernel.on("job.execute", async () => {
    await release.promise;
    return { outcome: "completed" };
  });
  transport.push({ leaseExpiresAt: new Date(Date.now() + 450) });
  await host.start();
  await waitFor(() => host.getStats().jobsInFlight === 1, 2000, "job running");
  const started = Date.now();
  await waitFor(() => transport.ofOp("heartbeat").length >= 2, 2000, "two heartbeats");
  const elapsed = Date.now() - started;
  release.resolve();
  await host.stop();
  // ~150 ms apart: two beats take at least ~300 ms and well under the 10 s fallback.
  assert.ok(elapsed >= 250 && elapsed < 1500, `two heartbeats after ${elapsed} ms`);
});

test("no idle wait while there is work: queued jobs run back to back", async () => {
  const { host, transport, kernel } = setup({ jobPollIntervalMs: 60_000 });
  for (let i = 0; i < 5; i++) transport.push();
  await host.start();
  await waitFor(() => kernel.of("job.execute").length === 5, 1000, "five jobs without idle waits");
  await host.stop();
});

test("a tick that claims runs wakes an idle job loop at once", async () => {
  const { host, transport, kernel } = setup({ jobPollIntervalMs: 60_000, orchestrationIntervalMs: 30 });
  let claimed = false;
  kernel.on("run.claimPending", () => {
    if (!claimed && transport.dequeues.length > 0) {
      claimed = true;
      transport.push();
      return { claimed: [{ workflowRunId: "r", workflowId: "wf", jobIds: ["j"] }] };
    }
    return { claimed: [] };
  });
  await host.start();
  await waitFor(() => claimed, 2000, "claim after the job loop went idle");
  await waitFor(() => kernel.of("job.execute").length === 1, 1000, "job picked up long before the 60 s poll interval");
  await host.stop();
});

test("maxConcurrentJobs runs that many jobs at once", async () => {
  const { host, kernel, transport } = setup({ maxConcurrentJobs: 3 });
  const release = deferred();
  kernel.on("job.execute", async () => {
    await release.promise;
    return { outcome: "completed" };
  });
  for (let i = 0; i < 4; i++) transport.push();
  await host.start();
  await waitFor(() => host.getStats().jobsInFlight === 3, 2000, "three in flight");
  assert.is(kernel.of("job.execute").length, 3);
  release.resolve();
  await waitFor(() => host.getStats().jobsCompleted === 4, 2000, "all four");
  await host.stop();
});

test("stop() waits for the in-flight job to finish and settle before resolving", async () => {
  const { host, kernel, transport } = setup();
  const release = deferred();
  kernel.on("job.execute", async () => {
    await release.promise;
    return { outcome: "completed" };
  });
  const job = transport.push();
  await host.start();
  await waitFor(() => host.getStats().jobsInFlight === 1, 2000, "job running");
  let stopped = false;
  const stopping = host.stop().then(() => {
    stopped = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.not.ok(stopped, "stop must wait for the job");
  assert.not.ok(host.getStats().isRunning);
  release.resolve();
  await stopping;
  assert.equal(transport.calls, [{ op: "complete", jobId: job.jobId }]);
  assert.is(kernel.of("run.transition").length, 1);
});

test("after shutdownTimeoutMs stop() aborts in-flight jobs through their signal", async () => {
  const { host, kernel, transport, logger } = setup({ shutdownTimeoutMs: 30 });
  kernel.on(
    "job.execute",
    (cmd) =>
      new Promise((resolve) => cmd.signal!.addEventListener("abort", () => resolve({ outcome: "failed", error: "aborted", retry: true }))),
  );
  transport.push();
  await host.start();
  await waitFor(() => host.getStats().jobsInFlight === 1, 2000, "job running");
  await host.stop();
  assert.ok(kernel.of("job.execute")[0]!.signal!.aborted);
  assert.is(host.getStats().jobsInFlight, 0);
  assert.ok(logger.entries.some((e) => e.level === "warn" && /shutdown timeout/.test(e.msg ?? "")));
});

test("SIGTERM/SIGINT handlers are installed by start, stop the host, and are removed", async () => {
  const before = { term: process.listenerCount("SIGTERM"), int: process.listenerCount("SIGINT") };
  const { host } = setup({ handleSignals: true });
  await host.start();
  await host.start(); // idempotent: no second set of handlers
  assert.is(process.listenerCount("SIGTERM"), before.term + 1);
  assert.is(process.listenerCount("SIGINT"), before.int + 1);
  process.emit("SIGTERM", "SIGTERM");
  await waitFor(() => !host.getStats().isRunning, 2000, "stopped by SIGTERM");
  await host.stop();
  assert.is(process.listenerCount("SIGTERM"), before.term);
  assert.is(process.listenerCount("SIGINT"), before.int);
});

test("handleSignals: false leaves process signals alone", async () => {
  const before = process.listenerCount("SIGTERM");
  const { host } = setup({ handleSignals: false });
  await host.start();
  assert.is(process.listenerCount("SIGTERM"), before);
  await host.stop();
});

test("a failing dequeue is logged and retried; the loop recovers", async () => {
  const { host, transport, kernel, logger } = setup();
  transport.dequeueError = new Error("nats: disconnected");
  await host.start();
  await waitFor(() => logger.entries.some((e) => e.obj.err === "nats: disconnected"), 2000, "logged dequeue error");
  transport.dequeueError = null;
  transport.push();
  await waitFor(() => kernel.of("job.execute").length === 1, 2000, "recovered");
  await host.stop();
});

test("stop() on an idle host returns at once even with long intervals (waits are interruptible)", async () => {
  const { host, kernel } = setup({ orchestrationIntervalMs: 60_000, jobPollIntervalMs: 60_000 });
  await host.start();
  await waitFor(() => kernel.of("outbox.flush").length === 1, 2000, "first tick");
  const began = Date.now();
  await host.stop();
  assert.ok(Date.now() - began < 500, `stop took ${Date.now() - began} ms`);
});

test("stop() leaves no timers behind (ticks, idle waits, heartbeats)", async () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  const baseline = timers();
  const { host, kernel, transport } = setup({ heartbeatIntervalMs: 5 });
  const release = deferred();
  kernel.on("job.execute", async () => {
    await release.promise;
    return { outcome: "completed" };
  });
  transport.push();
  await host.start();
  await waitFor(() => transport.ofOp("heartbeat").length >= 1, 2000, "a heartbeat while the job runs");
  assert.ok(timers() > baseline);
  release.resolve();
  await host.stop();
  assert.is(timers(), baseline);
});

test("the host can be started again after stop", async () => {
  const { host, kernel } = setup();
  await host.start();
  await host.stop();
  const ticks = host.getStats().orchestrationTicks;
  await host.start();
  await waitFor(() => host.getStats().orchestrationTicks > ticks, 2000, "ticks after restart");
  await host.stop();
  assert.ok(kernel.of("run.claimPending").length >= 2);
});

test("bad options are refused with a ValidationError naming each field", () => {
  try {
    createNodeHost({
      kernel: {} as never,
      jobTransport: new FakeTransport(),
      workerId: "",
      orchestrationIntervalMs: -5,
      maxConcurrentJobs: 0,
    });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ValidationError);
    assert.equal((err as ValidationError).issues.map((i) => i.path).sort(), [
      "kernel",
      "maxConcurrentJobs",
      "orchestrationIntervalMs",
      "workerId",
    ]);
  }
});

test("a misspelt option is refused rather than silently ignored", () => {
  try {
    createNodeHost({
      kernel: new FakeKernel(),
      jobTransport: new FakeTransport(),
      workerId: "w",
      orchestrationIntervalMS: 5,
    } as NodeHostConfig);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ValidationError);
    assert.match((err as Error).message, /orchestrationIntervalMS/);
  }
});

test("claimSoon claims new runs at once, between ticks; calls during a claim coalesce; nothing once stopped", async () => {
  const { host, kernel } = setup({ orchestrationIntervalMs: 3_600_000 });
  await host.start();
  await waitFor(() => kernel.of("run.claimPending").length === 1, 5_000, "the first tick's claim");
  host.claimSoon();
  host.claimSoon();
  host.claimSoon();
  await waitFor(() => kernel.of("run.claimPending").length >= 2, 5_000, "the claim asked for between ticks");
  await host.stop();
  const claims = kernel.of("run.claimPending").length;
  assert.ok(claims <= 3, `three calls during one claim make at most one more claim (saw ${claims})`);
  host.claimSoon();
  assert.is(kernel.of("run.claimPending").length, claims, "a stopped host claims nothing");
});

test.run();

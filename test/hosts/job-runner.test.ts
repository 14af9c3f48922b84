import { test } from "uvu";
import * as assert from "uvu/assert";
import { runLeasedJob } from "../../src/hosts/job-runner.js";
import { FakeKernel, FakeTransport, collectingLogger } from "./fakes.js";

// A database driver wedged by a dropped connection can leave a settling call pending forever;
// the host heartbeats a job until runLeasedJob returns, so that would hold the lease for good.
test("a settling transport call that never returns is abandoned after settleTimeoutMs and reported", async () => {
  const kernel = new FakeKernel();
  const transport = new FakeTransport();
  transport.complete = () => new Promise<void>(() => {});
  const logger = collectingLogger();
  const job = transport.push();
  const started = Date.now();
  const d = await runLeasedJob(job, {
    kernel,
    jobTransport: transport,
    logger,
    workerId: "w",
    retryBaseDelayMs: 10,
    retryMaxDelayMs: 10,
    settleTimeoutMs: 50,
  });
  assert.is(d.kind, "completed");
  assert.ok(Date.now() - started < 5_000, "returned instead of waiting for the call");
  const entry = logger.entries.find((e) => e.level === "error" && /did not settle/.test(e.msg ?? ""));
  assert.ok(entry, "the abandoned call is logged");
  assert.equal(
    { op: entry!.obj.op, jobId: entry!.obj.jobId, timeoutMs: entry!.obj.timeoutMs },
    { op: "complete", jobId: job.jobId, timeoutMs: 50 },
  );
});

test("without settleTimeoutMs the bound is twice the granted lease, at least 5 s", async () => {
  const kernel = new FakeKernel();
  kernel.on("job.execute", () => {
    throw new Error("database unavailable");
  });
  const transport = new FakeTransport();
  transport.fail = () => new Promise<void>(() => {});
  const logger = collectingLogger();
  const job = transport.push({ leaseExpiresAt: new Date(Date.now() + 3_000) });
  const d = await runLeasedJob(job, { kernel, jobTransport: transport, logger, workerId: "w", retryBaseDelayMs: 10, retryMaxDelayMs: 10 });
  assert.is(d.kind, "error");
  const timeoutMs = logger.entries.find((e) => /did not settle/.test(e.msg ?? ""))?.obj.timeoutMs as number;
  assert.ok(timeoutMs > 5_000 && timeoutMs <= 6_000, `bound ${timeoutMs} ms`);
});

test.run();

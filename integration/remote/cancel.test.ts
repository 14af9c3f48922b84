// Cancelling a run through the kernel interrupts its in-flight remote activity: the kernel
// (state in Postgres) drives a defineRemoteStage whose body runs on a worker over a real
// nats-server; run.cancel's hook cancels the task and publishes a cancel notice on the queue's
// subject, and the worker's ctx.signal fires on it (plain beats are a bare +WPI: the next broker
// heartbeat is half a lease away, too late for the bound). The worker's own report afterwards never
// overwrites the cancellation.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { jetstream } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { stage } from "../../test/remote/helpers/fixture.js";
import { until, startOrchestratorOnPostgres, natsSdkWorker } from "./helpers.js";
import { startKernelOrchestrator, WORKFLOW_ID } from "./kernel.js";

const svc = await services(["nats", "postgres"]);
const t = svc ? test : test.skip;
const QUEUE = "default";
const VERSION = "v1";
const HEARTBEAT_MS = 1_000;
/** The notice's trip (and one heartbeat round trip) on a loaded CI machine. */
const ROUND_TRIP_SLACK_MS = 400;
const cleanups: (() => Promise<void>)[] = [];

test.after(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await svc?.stop();
});

t("run.cancel aborts ctx.signal of a 60 s activity within one heartbeat interval; the late report is refused", async () => {
  const { orch, pg, topology } = await startOrchestratorOnPostgres(
    { nats: svc!.nats.url, postgres: svc!.postgres.url },
    {
      queue: QUEUE,
      codeVersion: VERSION,
      leaseMs: 5_000,
    },
    cleanups,
  );

  let enteredAt = 0;
  let abortedAt = 0;
  let abortReason: unknown;
  const activity = stage("heavy", async (ctx) => {
    enteredAt = Date.now();
    // A 60 s workload that only stops early when told to.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, 60_000);
      ctx.signal.addEventListener(
        "abort",
        () => {
          abortedAt = Date.now();
          abortReason = ctx.signal.reason;
          clearTimeout(timer);
          reject(ctx.signal.reason);
        },
        { once: true },
      );
    });
    return { output: { r: ctx.input.n } };
  });

  const kern = await startKernelOrchestrator({
    sql: pg.sql,
    schema: pg.schema,
    broker: orch.broker,
    activity,
    queue: QUEUE,
    stageCodeVersion: VERSION,
    workerId: "orch-1",
  });
  cleanups.push(() => kern.stop());
  const w = await natsSdkWorker(
    svc!.nats.url,
    { topology, queue: QUEUE, codeVersion: VERSION, heartbeatIntervalMs: HEARTBEAT_MS, registry: { heavy: activity } },
    cleanups,
  );
  w.start();

  const { workflowRunId } = await kern.kernel.dispatch({
    type: "run.create",
    idempotencyKey: "cancel-1",
    workflowId: WORKFLOW_ID,
    input: { n: 1 },
  });
  await until(() => enteredAt > 0, 15_000, "the activity to start on the worker");
  const [task] = await pg.store.listTasks({ workflowRunId });
  assert.is(task?.status, "LEASED");
  const taskId = task!.taskId;

  // Cancelled just after the attempt started: the worker's next heartbeat is almost a full interval away (the worst case).
  const cancelledAt = Date.now();
  const res = await kern.kernel.dispatch({ type: "run.cancel", workflowRunId, reason: "user pressed stop" });
  assert.equal(res, { cancelled: true, status: "CANCELLED" });
  await until(() => abortedAt > 0, HEARTBEAT_MS * 10, "ctx.signal to fire");
  const elapsed = abortedAt - cancelledAt;
  assert.ok(
    elapsed <= HEARTBEAT_MS + ROUND_TRIP_SLACK_MS,
    `ctx.signal fired ${elapsed} ms after run.cancel (heartbeat interval ${HEARTBEAT_MS} ms)`,
  );
  assert.match(String((abortReason as Error)?.message), /cancel/i);

  // The worker reports "cancelled" for its attempt; the broker records and refuses it.
  await until(() => orch.reports.some((r) => r.taskId === taskId), 10_000, "the worker's report verdict");
  assert.equal(
    orch.reports.find((r) => r.taskId === taskId),
    { accepted: false, reason: "run_cancelled", taskId },
  );
  assert.is(w.getStats().cancelled, 1);

  // Even a "completed" report of that same attempt (a worker that ignored its signal) changes nothing.
  const forged = {
    v: 1,
    taskId,
    attempt: task!.attempt,
    leaseToken: task!.leaseToken!,
    workerId: "w1",
    codeVersion: VERSION,
    outcome: "completed",
    output: { r: 99 },
    logs: [],
    reportedAt: new Date().toISOString(),
  };
  await jetstream(orch.nc).publish(topology.reportSubject(QUEUE), JSON.stringify(forged), { msgID: `${taskId}:ignored-signal` });
  await until(() => orch.reports.filter((r) => r.taskId === taskId).length === 2, 10_000, "the second report's verdict");
  assert.equal(orch.reports.filter((r) => r.taskId === taskId)[1], { accepted: false, reason: "run_cancelled", taskId });

  const after = await pg.store.getTask(taskId);
  assert.is(after?.status, "CANCELLED");
  assert.is(after?.output, null);
  assert.is(after?.error, "run cancelled");
  assert.equal(
    (await pg.store.rejectedReports(taskId)).map((r) => r.reason),
    ["run_cancelled", "run_cancelled"],
  );
  const view = await kern.kernel.runs.get(workflowRunId);
  assert.is(view?.run.status, "CANCELLED");
  assert.equal(
    view?.stages.map((s) => s.status),
    ["CANCELLED"],
  );
});

test.run();

// Remote control: `drain` during 5 running tasks lets all 5 finish and report, pulls nothing new,
// and ends with the worker stopped (its done() resolves, the registry says stopped).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { listWorkers, sendWorkerControl } from "../../adapters/jetstream/fleet/index.js";
import { gate, spec, stage } from "../../test/remote/helpers/fixture.js";
import { until } from "../remote/helpers.js";
import { QUEUE, VERSION, startFleet, type Fleet } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
let fleet: Fleet | null = null;
const release = gate();

test.after.each(async () => {
  release.open();
  await fleet?.close();
  fleet = null;
});
test.after(async () => {
  await svc?.stop();
});

/** Bounded wait on a promise. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)),
  );
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

t("drain during 5 running tasks: all 5 finish and report, nothing new is pulled, the worker ends stopped", async () => {
  fleet = await startFleet({ url: svc!.nats.url });
  const { orch, topology } = fleet;
  const started: string[] = [];
  const heavy = stage("heavy", async (ctx) => {
    started.push(ctx.workflowRunId);
    await release.promise;
    return { output: { r: ctx.input.n } };
  });
  const a = await fleet.worker("drainee", { stages: { heavy }, max: 5 });
  const ids: string[] = [];
  for (let i = 0; i < 7; i++)
    ids.push(
      await orch.broker.submit(spec({ workflowRunId: `run-${i}`, queue: QUEUE, codeVersion: VERSION, input: { n: i }, maxAttempts: 50 })),
    );
  await until(() => started.length === 5, 10_000, "five running tasks");

  const status = await sendWorkerControl(orch.nc, "drainee", "status", { prefix: topology.prefix });
  assert.is(status.accepted, true);
  assert.is(status.worker.status, "running");
  assert.is(status.worker.inFlight, 5);

  const reply = await sendWorkerControl(orch.nc, "drainee", "drain", { prefix: topology.prefix });
  assert.is(reply.accepted, true);
  assert.is(reply.worker.status, "draining");
  assert.is(reply.worker.inFlight, 5);
  await until(
    async () => (await listWorkers(orch.nc, { prefix: topology.prefix }))[0]?.status === "draining",
    5_000,
    "registry to show draining",
  );

  release.open();
  await within(a.w.done(), 10_000, "the drained worker to stop");
  assert.is(a.w.getStats().status, "stopped");
  assert.is(a.w.getStats().completed, 5);
  assert.is(started.length, 5, "no task was started after the drain request");
  // Reports are durable once done() resolves; the orchestrator applies them as its report consumer polls.
  const completed = async () =>
    (await Promise.all(ids.map((id) => orch.broker.getOutcome(id)))).filter((o) => o?.status === "completed").length;
  await until(async () => (await completed()) === 5, 5_000, "the five drained tasks' reports to be applied");
  const outcomes = await Promise.all(ids.map((id) => orch.broker.getOutcome(id)));
  assert.is(outcomes.filter((o) => o?.status === "pending").length, 2, "the two queued tasks were left in the queue");
  const [listed] = await listWorkers(orch.nc, { prefix: topology.prefix });
  assert.is(listed?.status, "stopped");
  assert.is(listed?.inFlight, 0);

  // A stopped worker refuses further control, and the queued tasks were not lost: a new worker runs them.
  const again = await sendWorkerControl(orch.nc, "drainee", "stop", { prefix: topology.prefix }).catch((e: Error) => e);
  assert.ok(again instanceof Error, "a stopped worker no longer answers control requests");
  await fleet.worker("successor", { stages: { heavy }, max: 5 });
  for (const id of ids) assert.is((await orch.broker.waitForOutcome(id, { timeoutMs: 10_000 }))?.status, "completed");
  assert.is(started.length, 7);
});

t("stop aborts in-flight tasks and releases them; an unknown worker id is reported clearly", async () => {
  fleet = await startFleet({ url: svc!.nats.url });
  const { orch, topology } = fleet;
  const started: string[] = [];
  const park = gate();
  const heavy = stage("heavy", async (ctx) => {
    started.push(ctx.workflowRunId);
    await Promise.race([
      park.promise,
      new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true })),
    ]);
    return { output: { r: 1 } };
  });
  const a = await fleet.worker("stoppee", { stages: { heavy }, max: 2 });
  const id = await orch.broker.submit(spec({ workflowRunId: "run-stop", queue: QUEUE, codeVersion: VERSION, maxAttempts: 50 }));
  await until(() => started.length === 1, 10_000, "the task to start");
  const reply = await sendWorkerControl(orch.nc, "stoppee", "stop", { prefix: topology.prefix });
  assert.is(reply.accepted, true);
  await within(a.w.done(), 10_000, "the stopped worker to end");
  assert.is(a.w.getStats().completed, 0);
  assert.is((await orch.broker.getOutcome(id))?.status, "pending", "the aborted task went back to the queue");
  park.open();

  const err = await sendWorkerControl(orch.nc, "nobody", "status", { prefix: topology.prefix, timeoutMs: 1_000 }).catch((e: Error) => e);
  assert.instance(err, Error);
  assert.match((err as Error).message, /no worker "nobody"/);
});

test.run();

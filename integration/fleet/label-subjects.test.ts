// Label routing by subject (issue 18): a labelled task is published on its label set's own subject
// and consumer, so workers lacking the labels never receive it. Five non-matching workers and one
// matching worker: the task may only be attempted once (maxAttempts 1) and still runs, on attempt 1.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { jetstreamManager } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { taskConsumerName } from "../../adapters/jetstream/remote/index.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import { until } from "../remote/helpers.js";
import { QUEUE, VERSION, startFleet, type Fleet } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
let fleet: Fleet | null = null;

test.after(async () => {
  await fleet?.close();
  await svc?.stop();
});

t("a gpu task runs on attempt 1 with five non-matching workers polling; unlabelled tasks still run everywhere", async () => {
  fleet = await startFleet({ url: svc!.nats.url });
  const ranOn = new Map<string, string>(); // run id -> worker id
  const body = (workerId: string) =>
    stage("heavy", async (ctx) => {
      ranOn.set(ctx.workflowRunId, workerId);
      return { output: { r: ctx.input.n } };
    });
  const nonMatching: [string, Record<string, string>][] = [
    ["cpu-1", { gpu: "false" }],
    ["cpu-2", { gpu: "false", os: "linux" }],
    ["linux-1", { os: "linux" }],
    ["plain-1", {}],
    ["plain-2", {}],
  ];
  for (const [id, labels] of nonMatching) await fleet.worker(id, { stages: { heavy: body(id) }, labels });
  await fleet.worker("gpu-1", { stages: { heavy: body("gpu-1") }, labels: { gpu: "true", os: "linux" } });

  const submit = (runId: string, requiredLabels?: Record<string, string>) =>
    fleet!.orch.broker.submit(
      spec({
        workflowRunId: runId,
        queue: QUEUE,
        codeVersion: VERSION,
        input: { n: 1 },
        maxAttempts: 1, // one refusal would fail it: attempts count executions only
        ...(requiredLabels ? { requiredLabels } : {}),
      }),
    );
  const gpuTask = await submit("gpu-a", { gpu: "true" });
  const out = await fleet.orch.broker.waitForOutcome(gpuTask, { timeoutMs: 30_000 });
  assert.is(out?.status, "completed", `gpu task: ${out?.error ?? out?.status}`);
  assert.is(out?.attempt, 1);
  assert.is(out?.workerId, "gpu-1");
  assert.is(ranOn.get("gpu-a"), "gpu-1");

  // The label set has its own consumer, and it delivered the task exactly once.
  const jsm = await jetstreamManager(fleet.orch.nc);
  const info = await jsm.consumers.info(fleet.topology.streams.tasks, taskConsumerName(QUEUE, VERSION, { gpu: "true" }));
  assert.is(info.config.filter_subject, fleet.topology.taskSubject(QUEUE, VERSION, { gpu: "true" }));
  assert.is(info.delivered.consumer_seq, 1);
  assert.is(info.num_redelivered, 0);

  // A two-label set reaches the worker that has both, also on attempt 1.
  const both = await submit("gpu-linux", { os: "linux", gpu: "true" });
  const out2 = await fleet.orch.broker.waitForOutcome(both, { timeoutMs: 30_000 });
  assert.is(out2?.status, "completed", `gpu+linux task: ${out2?.error ?? out2?.status}`);
  assert.is(out2?.attempt, 1);
  assert.is(out2?.workerId, "gpu-1");

  // Unlabelled tasks still go to any worker, labelled or not, each on attempt 1.
  const plain: string[] = [];
  for (let i = 0; i < 12; i++) plain.push(await submit(`p${i}`));
  for (const id of plain) {
    const o = await fleet.orch.broker.waitForOutcome(id, { timeoutMs: 30_000 });
    assert.is(o?.status, "completed", `task ${id}`);
    assert.is(o?.attempt, 1, `task ${id} attempt`);
  }
  await until(() => plain.every((_, i) => ranOn.has(`p${i}`)), 5_000, "every plain body recorded");
  const unlabelled = await jsm.consumers.info(fleet.topology.streams.tasks, taskConsumerName(QUEUE, VERSION));
  assert.is(unlabelled.num_redelivered, 0, "no unlabelled task was given back");
});

test.run();

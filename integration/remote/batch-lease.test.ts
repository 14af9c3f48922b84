// A worker with room for several tasks leases the ready ones in one pull (their starts in
// parallel), instead of one pull and one start after another.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { gate, spec, stage } from "../../test/remote/helpers/fixture.js";
import { startOrchestrator, until } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;

t("four ready tasks reach a worker with four free slots in one pull, and all complete", async () => {
  const topology = freshTopology();
  const orch = await startOrchestrator({ url: svc!.nats.url, topology, queue: "q", codeVersion: "v1", leaseMs: 10_000 });
  const nc = await connect({ servers: svc!.nats.url });
  const transport = createNatsWorkerTransport(nc, { topology, queue: "q", codeVersion: "v1" });
  const batches: number[] = [];
  const nextBatch = transport.nextBatch!.bind(transport);
  transport.nextBatch = async (queue, o, max) => {
    const leases = await nextBatch(queue, o, max);
    if (leases.length > 0) batches.push(leases.length);
    return leases;
  };
  const release = gate();
  let entered = 0;
  const body = stage("heavy", async (ctx) => {
    entered++;
    await release.promise;
    return { output: { r: ctx.input.n } };
  });
  const w = createActivityWorker({
    transport,
    queue: "q",
    stageCodeVersion: "v1",
    workerId: "w",
    registry: { heavy: body },
    maxConcurrentTasks: 4,
    pollWaitMs: 500,
  });
  try {
    const ids = [];
    for (let i = 0; i < 4; i++)
      ids.push(await orch.broker.submit(spec({ workflowRunId: `r${i}`, queue: "q", codeVersion: "v1", input: { n: i } })));
    w.start();
    await until(() => entered === 4, 15_000, "all four tasks running at once");
    release.open();
    for (const [i, id] of ids.entries()) {
      const out = await orch.broker.waitForOutcome(id, { timeoutMs: 15_000 });
      assert.is(out?.status, "completed");
      assert.equal(out?.output, { r: i });
    }
    assert.ok(Math.max(...batches) >= 2, `tasks arrived in pulls of ${batches.join(", ")}`);
  } finally {
    release.open();
    await w.stop({ drain: false });
    await transport.close?.();
    await nc.close();
    await orch.close();
  }
});

test.after(async () => {
  await svc?.stop();
});
test.run();

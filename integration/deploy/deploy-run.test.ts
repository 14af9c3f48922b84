// Code deployed through jetflow, end to end on a real nats-server: deploy v1, a worker
// process started with --from-store runs the task of v1; `jetflow deploy` v2 and a second
// --from-store worker: new tasks run the v2 bundle while a v1 task that was in flight across the
// deploy finishes on v1. Neither worker was given a module path or a version: both follow the
// queue's current version at start.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { startOrchestrator, until, type Orchestrator } from "../remote/helpers.js";
import { startWorkerProcess, type WorkerProcess } from "../remote/worker-process.js";
import { ensureTaskConsumer } from "../../adapters/jetstream/remote/index.js";
import { spec } from "../../test/remote/helpers/fixture.js";
import { deploy, deployInProcess, signingKey } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const QUEUE = "deployq";
const cleanups: (() => Promise<unknown>)[] = [];

test.after.each(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
test.after(async () => {
  await svc?.stop();
});

t(
  "deploy v1 → a task runs on the bundle from the store; deploy v2 → new tasks run v2 while the in-flight v1 task finishes on v1",
  async () => {
    const url = svc!.nats.url;
    const topology = freshTopology();
    const key = await signingKey();
    cleanups.push(() => key.close());
    const orch: Orchestrator = await startOrchestrator({ url, topology, queue: QUEUE, codeVersion: "v1", leaseMs: 5_000 });
    cleanups.push(() => orch.close());
    // The v2 task consumer exists before v2 tasks are submitted (an orchestrator deployed at v2 creates it).
    await ensureTaskConsumer(await jetstreamManager(orch.nc), { topology, queue: QUEUE, codeVersion: "v2", leaseMs: 5_000, maxDeliver: 5 });
    const target = { url, prefix: topology.prefix, seedFile: key.seedFile };
    const worker = async (id: string): Promise<WorkerProcess> => {
      const w = await startWorkerProcess(
        id,
        [
          "--from-store",
          "--queue",
          QUEUE,
          "--trusted-keys",
          key.publicKey,
          "--bundle-dir",
          join(key.dir, `bundles-${id}`),
          "--servers",
          url,
          "--prefix",
          topology.prefix,
          "--stream-prefix",
          topology.streamPrefix,
          "--no-fleet",
          "--poll-ms",
          "300",
          "--heartbeat-ms",
          "200",
        ],
        process.env,
      );
      cleanups.push(() => w.stop());
      return w;
    };

    // v1 in process (quicker); v2 below through the `jetflow deploy` CLI.
    const v1 = await deployInProcess(orch.nc, target, "activities-v1.ts", QUEUE, "v1");
    assert.is(v1.status, "created");
    const w1 = await worker("w-v1");
    assert.match(w1.log(), /"bundle fetched and verified"/);
    assert.match(w1.log(), /"codeVersion":"v1"/);

    const first = await orch.broker.submit(spec({ workflowRunId: "run-1", queue: QUEUE, codeVersion: "v1", input: { n: 5 } }));
    const out1 = await orch.broker.waitForOutcome(first, { timeoutMs: 20_000 });
    assert.is(out1?.status, "completed", JSON.stringify(out1));
    assert.equal(out1?.output, { r: 10, ranOn: "v1" });

    // A v1 task that holds until the gate opens: in flight across the whole v2 deploy.
    const gate = join(key.dir, "gate");
    const held = await orch.broker.submit(spec({ workflowRunId: "run-2", queue: QUEUE, codeVersion: "v1", input: { n: 7, gate } }));
    await until(async () => (await orch.store.getTask(held))?.status === "LEASED", 20_000, "the v1 task to be leased");

    const v2 = await deploy(target, "activities-v2.ts", QUEUE, "v2");
    assert.match(v2.stdout, /current version of deployq: v2/);
    const w2 = await worker("w-v2");
    assert.match(w2.log(), /"codeVersion":"v2"/);
    const next = await orch.broker.submit(spec({ workflowRunId: "run-3", queue: QUEUE, codeVersion: "v2", input: { n: 5 } }));
    const out3 = await orch.broker.waitForOutcome(next, { timeoutMs: 20_000 });
    assert.equal(out3?.output, { r: 15, ranOn: "v2" }, "the new task ran the v2 bundle");
    assert.is((await orch.store.getTask(held))?.status, "LEASED", "the v1 task is still in flight");

    await writeFile(gate, "open");
    const out2 = await orch.broker.waitForOutcome(held, { timeoutMs: 20_000 });
    assert.equal(out2?.output, { r: 14, ranOn: "v1" }, "the in-flight task finished on the v1 bundle");
    assert.is(await w1.stop(), 0);
    assert.is(await w2.stop(), 0);
  },
);

test.run();

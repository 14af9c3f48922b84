// Priority bands of remote tasks on a real nats-server: the broker publishes a task on its band's
// subject, the worker SDK asks the bands highest first. A high-priority task submitted behind 200
// low-priority ones is the next task a busy worker starts once a slot frees; the starvation guard
// still starts low tasks under a steady high band; an idle worker starts a task of any band at once.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import { startOrchestrator, until, type Orchestrator } from "./helpers.js";
import type { StageContext } from "../../src/contract/stage-types.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const QUEUE = "default";
const VERSION = "v1";
const cleanups: (() => Promise<void>)[] = [];
const releaseAll: (() => void)[] = [];

test.after.each(async () => {
  for (const r of releaseAll.splice(0)) r();
  while (cleanups.length > 0) await cleanups.pop()!();
});
test.after(async () => {
  await svc?.stop();
});

async function setup() {
  const topology = freshTopology();
  const orch: Orchestrator = await startOrchestrator({ url: svc!.nats.url, topology, queue: QUEUE, codeVersion: VERSION, leaseMs: 10_000 });
  cleanups.push(() => orch.close());
  const worker = async (execute: (ctx: StageContext<{ n: number }, unknown>) => Promise<void>, slots: number, starvationLimit?: number) => {
    const nc: NatsConnection = await connect({ servers: svc!.nats.url });
    const transport = createNatsWorkerTransport(nc, {
      topology,
      queue: QUEUE,
      codeVersion: VERSION,
      ...(starvationLimit ? { starvationLimit } : {}),
    });
    const heavy = stage("heavy", async (ctx) => {
      await execute(ctx);
      return { output: { r: ctx.input.n } };
    });
    const w = createActivityWorker({
      transport,
      queue: QUEUE,
      stageCodeVersion: VERSION,
      registry: { heavy },
      workerId: "w1",
      pollWaitMs: 2_000,
      maxConcurrentTasks: slots,
    });
    cleanups.push(async () => {
      await w.stop({ drain: false });
      await transport.close?.();
      if (!nc.isClosed()) await nc.close();
    });
    w.start();
  };
  const submit = (n: number, priority: number) =>
    orch.broker.submit(spec({ queue: QUEUE, codeVersion: VERSION, workflowRunId: `run-${n}`, input: { n }, priority }));
  return { orch, worker, submit };
}

t("a high-priority task submitted after 200 low ones is the next task started once a slot frees", async () => {
  const { worker, submit } = await setup();
  for (let n = 0; n < 200; n++) await submit(n, -1);
  const started: number[] = [];
  const running: (() => void)[] = [];
  releaseAll.push(() => running.splice(0).forEach((r) => r()));
  // Every low task holds its slot until the test lets it go.
  await worker(async (ctx) => {
    started.push(ctx.input.n);
    if (ctx.input.n < 1_000) await new Promise<void>((r) => running.push(r));
  }, 2);
  await until(() => started.length === 2 && running.length === 2, 20_000, "two low tasks running");
  await submit(1_000, 5);
  running.shift()!(); // one slot frees
  await until(() => started.length >= 3, 20_000, "a third task started");
  assert.is(started[2], 1_000, `started after the high task was queued: ${started.slice(2).join(", ")}`);
  assert.ok(started.slice(0, 2).every((n) => n < 1_000));
});

t("starvation guard: under a steady high band the low band still starts one task in limit+1", async () => {
  const { worker, submit } = await setup();
  for (let n = 0; n < 10; n++) await submit(n, -1);
  for (let n = 100; n < 140; n++) await submit(n, 1);
  const started: number[] = [];
  await worker(async (ctx) => void started.push(ctx.input.n), 1, 3);
  await until(() => started.length >= 20, 30_000, "20 tasks started");
  const lows = started
    .slice(0, 20)
    .map((n, i) => (n < 100 ? i : -1))
    .filter((i) => i >= 0);
  // Limit 3: three high, then one low. 40 high tasks keep the high band busy throughout.
  assert.equal(lows, [3, 7, 11, 15, 19], `start order ${started.slice(0, 20).join(", ")}`);
  assert.equal(started.slice(0, 3), [100, 101, 102]);
});

t("an idle worker starts a task of any band as soon as it is submitted", async () => {
  const { worker, submit } = await setup();
  const started: number[] = [];
  await worker(async (ctx) => void started.push(ctx.input.n), 1);
  let n = 0;
  for (const priority of [-3, 7, 0]) {
    await new Promise((r) => setTimeout(r, 300)); // let the worker sit in its long poll (either order passes)
    const at = Date.now();
    await submit(++n, priority);
    await until(() => started.length === n, 20_000, `the task of priority ${priority} started`);
    // Far below the 2 s long poll: the poll on every band answered, not a later re-poll.
    assert.ok(Date.now() - at < 1_500, `priority ${priority} took ${Date.now() - at} ms`);
  }
});

test.run();

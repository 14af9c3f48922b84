// Priority bands of the JetStream job transport, on a real nats-server: a high-priority job
// queued behind a burst of low-priority ones is the next one started once a slot frees, the
// starvation guard still moves the low band under a steady high band, and a deployment's
// pre-band `jobs` consumer (no filter) is replaced without losing its waiting jobs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { createJetStreamJobTransport, type JetStreamJobTransport } from "../../adapters/jetstream/job-transport.js";
import { encodeJob } from "../../src/contract/job-message.js";
import type { LeasedJob } from "../../src/ports/job-transport.js";
import type { Topology } from "../../src/contract/topology.js";
import { freshTopology, makeJob } from "./helpers.js";
import { createJobWaitExplainer } from "../../adapters/jetstream/job-waits.js";
import type { RunView } from "../../src/kernel/types.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;

const open: { close(): Promise<void> }[] = [];
async function conn(): Promise<NatsConnection> {
  const nc = await connect({ servers: svc!.nats.url });
  open.push(nc);
  return nc;
}
async function transport(topology: Topology, starvationLimit?: number): Promise<JetStreamJobTransport> {
  const tr = await createJetStreamJobTransport(await conn(), {
    topology,
    leaseMs: 30_000,
    maxDeliveries: 5,
    ...(starvationLimit ? { starvationLimit } : {}),
  });
  open.unshift(tr);
  return tr;
}

test.after.each(async () => {
  for (const r of open.splice(0)) await r.close();
});
test.after(async () => {
  await svc?.stop();
});

t("a high-priority job queued after 200 low ones is the next job started once a slot frees", async () => {
  const topology = freshTopology();
  const tr = await transport(topology);
  const SLOTS = 4;
  await tr.enqueue(Array.from({ length: 200 }, (_, i) => makeJob({ priority: -1, payload: { low: i } })));
  // The orchestrator is busy: every slot holds a low job when the high one arrives.
  const running: LeasedJob[] = [];
  for (let i = 0; i < SLOTS; i++) running.push((await tr.dequeue({ workerId: "o1", waitMs: 5_000 }))!);
  assert.ok(running.every((j) => j && j.priority === -1));
  await tr.enqueue([makeJob({ priority: 5, payload: { high: true } })]);
  // A slot frees: the next job started is the high one, ahead of the 196 low ones still waiting.
  await tr.complete(running.shift()!);
  const next = await tr.dequeue({ workerId: "o1", waitMs: 5_000 });
  assert.ok(next);
  assert.is(next.priority, 5, `expected the high job, got ${JSON.stringify(next.payload)}`);
  assert.is(await tr.depth(), 196);
});

t("an idle orchestrator's long pull takes a job of any band as soon as it is published", async () => {
  const topology = freshTopology();
  const tr = await transport(topology);
  for (const priority of [3, 0, -2]) {
    const started = Date.now();
    const waiting = tr.dequeue({ workerId: "o1", waitMs: 10_000 });
    await new Promise((r) => setTimeout(r, 50)); // let the long pull reach the server (not a sync: either order passes)
    await tr.enqueue([makeJob({ priority })]);
    const job = await waiting;
    assert.ok(job, `no job of priority ${priority}`);
    assert.is(job.priority, priority);
    assert.ok(Date.now() - started < 5_000, "the long pull waited for its expiry instead of the job");
    await tr.complete(job);
  }
});

t("starvation guard: under a steady high band the low band still gets one job in limit+1", async () => {
  const topology = freshTopology();
  const tr = await transport(topology, 3);
  await tr.enqueue(Array.from({ length: 10 }, () => makeJob({ priority: -1 })));
  await tr.enqueue(Array.from({ length: 40 }, () => makeJob({ priority: 1 })));
  const order: number[] = [];
  for (let i = 0; i < 20; i++) {
    const job = (await tr.dequeue({ workerId: "o1", waitMs: 5_000 }))!;
    order.push(job.priority);
    await tr.complete(job);
    // Keep the high band steady: one new high job for every one taken.
    if (job.priority === 1) await tr.enqueue([makeJob({ priority: 1 })]);
  }
  // Limit 3: three high, then one low, repeatedly.
  assert.equal(order.slice(0, 8), [1, 1, 1, -1, 1, 1, 1, -1]);
  assert.is(order.filter((p) => p === -1).length, 5);
});

t("a pre-band jobs consumer is replaced and its waiting jobs (any priority) are delivered", async () => {
  const topology = freshTopology();
  const nc = await conn();
  const jsm = await jetstreamManager(nc);
  // What an older release created: one unfiltered consumer, jobs on `<p>.jobs.<priority>`.
  await jsm.streams.add({
    name: topology.streams.jobs,
    subjects: [topology.filters.jobs],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
  });
  await jsm.consumers.add(topology.streams.jobs, {
    durable_name: "jobs",
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
  });
  const js = jetstream(nc);
  const old = [makeJob({ priority: 7 }), makeJob({ priority: 0 })];
  await js.publish(`${topology.prefix}.jobs.p7`, encodeJob(old[0]!), { msgID: old[0]!.jobId });
  await js.publish(`${topology.prefix}.jobs.default`, encodeJob(old[1]!), { msgID: old[1]!.jobId });
  const tr = await transport(topology);
  const got = new Set<string>();
  for (let i = 0; i < 2; i++) {
    const job = await tr.dequeue({ workerId: "o1", waitMs: 5_000 });
    assert.ok(job, "a job published before the upgrade was not delivered");
    got.add(job.jobId);
    await tr.complete(job);
  }
  assert.equal([...got].sort(), old.map((j) => j.jobId).sort());
  const info = await jsm.consumers.info(topology.streams.jobs, "jobs");
  assert.is(info.config.filter_subject, topology.jobBandFilters.normal);
});

t(
  "runs.get's reason for a PENDING stage behind higher-priority jobs: lower-priority with the count; none for the high band or a parked stage",
  async () => {
    const topology = freshTopology();
    const tr = await transport(topology);
    await tr.enqueue([makeJob({ priority: 5 }), makeJob({ priority: 5 }), makeJob({ priority: 0 })]);
    const explainer = createJobWaitExplainer({ nc: await conn(), topology }, { cacheMs: 0 });
    const at = new Date("2026-12-03T08:00:00.000Z");
    const view = (priority: number, parked = false): RunView => ({
      run: { id: "r1", status: "RUNNING", priority } as RunView["run"],
      stages: [{ stageId: "render", status: "PENDING", updatedAt: at } as RunView["stages"][number]],
      waiting: parked ? [{ stageId: "render", reason: "concurrency", detail: "full", retryAt: null, since: at }] : [],
    });
    assert.equal(await explainer.explain(view(0)), [
      {
        stageId: "render",
        reason: "lower-priority",
        detail: "behind 2 pending high-priority job(s) in the job queue (run priority 0)",
        retryAt: null,
        since: at.toISOString(),
      },
    ]);
    assert.is((await explainer.explain(view(-1)))[0]?.detail, "behind 3 pending higher-priority job(s) in the job queue (run priority -1)");
    assert.equal(await explainer.explain(view(5)), [], "nothing outranks the high band");
    assert.equal(await explainer.explain(view(0, true)), [], "a stage parked by a limit keeps that reason");
    // Once the high jobs are taken, nothing is ahead.
    for (let i = 0; i < 2; i++) await tr.complete((await tr.dequeue({ workerId: "o1", waitMs: 5_000 }))!);
    assert.equal(await explainer.explain(view(0)), []);
  },
);

test.run();

// JobTransport behaviours that depend on JetStream itself: leases kept alive by working(),
// redelivery to another orchestrator after a holder dies, dedupe by jobId, MaxDeliver
// exhaustion surfacing one dead letter, and delayed jobs not spending the delivery budget.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { createJetStreamJobTransport, type JetStreamJobTransport } from "../../adapters/jetstream/job-transport.js";
import type { DeadLetteredJob, LeasedJob } from "../../src/ports/job-transport.js";
import type { Topology } from "../../src/contract/topology.js";
import { eventually, freshTopology, makeJob } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const LEASE_MS = 400;

const open: { close(): Promise<void> }[] = [];
async function conn(): Promise<NatsConnection> {
  const nc = await connect({ servers: svc!.nats.url });
  open.push(nc);
  return nc;
}
async function transport(nc: NatsConnection, topology: Topology, maxDeliveries = 5): Promise<JetStreamJobTransport> {
  const tr = await createJetStreamJobTransport(nc, { topology, leaseMs: LEASE_MS, maxDeliveries, promoterPollMs: 200 });
  open.unshift(tr); // transports close before their connections
  return tr;
}

test.after.each(async () => {
  for (const r of open.splice(0)) await r.close();
});
test.after(async () => {
  await svc?.stop();
});

t("a job held past AckWait while heartbeating is not redelivered", async () => {
  const topology = freshTopology();
  const a = await transport(await conn(), topology);
  const b = await transport(await conn(), topology);
  await a.enqueue([makeJob()]);
  const job = await a.dequeue({ workerId: "a", waitMs: 2000 });
  assert.ok(job);
  // Heartbeat every lease/4 for 3 leases while the other orchestrator keeps pulling.
  const until = Date.now() + LEASE_MS * 3;
  let stolen: LeasedJob | null = null;
  const pulling = (async () => {
    while (Date.now() < until && !stolen) stolen = await b.dequeue({ workerId: "b", waitMs: 100 });
  })();
  while (Date.now() < until) {
    await a.heartbeat(job);
    await new Promise((r) => setTimeout(r, LEASE_MS / 4)); // the heartbeat cadence under test, not a sync
  }
  await pulling;
  assert.is(stolen, null, "another orchestrator got a job whose holder was heartbeating");
  await a.complete(job);
  assert.is(await b.dequeue({ workerId: "b", waitMs: LEASE_MS * 2 }), null);
});

t("a dead holder's job is redelivered to another connection after the lease, deliveryCount 2", async () => {
  const topology = freshTopology();
  const ncA = await conn();
  const a = await transport(ncA, topology);
  const b = await transport(await conn(), topology);
  const spec = makeJob();
  await a.enqueue([spec]);
  const first = await a.dequeue({ workerId: "a", waitMs: 2000 });
  assert.is(first?.jobId, spec.jobId);
  assert.is(first?.deliveryCount, 1);
  await ncA.close(); // the holder dies without acking
  const started = Date.now();
  const second = await b.dequeue({ workerId: "b", waitMs: LEASE_MS * 5 });
  assert.is(second?.jobId, spec.jobId);
  assert.is(second?.deliveryCount, 2);
  assert.ok(Date.now() - started >= LEASE_MS * 0.5, "redelivered before the lease could have expired");
  assert.is.not(second?.leaseToken, first?.leaseToken);
  await b.complete(second!);
});

t("re-publishing a job with the same jobId stores it once", async () => {
  const topology = freshTopology();
  const nc = await conn();
  const a = await transport(nc, topology);
  const spec = makeJob();
  await a.enqueue([spec]);
  await a.enqueue([spec, { ...spec, payload: { changed: true } }]);
  const jsm = await jetstreamManager(nc);
  assert.is((await jsm.streams.info(topology.streams.jobs)).state.messages, 1);
  assert.is(await a.depth(), 1);
  const job = await a.dequeue({ workerId: "a", waitMs: 1000 });
  assert.equal(job?.payload, spec.payload);
  await a.complete(job!);
  assert.is(await a.dequeue({ workerId: "a", waitMs: 0 }), null);
  assert.is((await jsm.streams.info(topology.streams.jobs)).state.messages, 0);
});

t("MaxDeliver exhaustion surfaces exactly one dead letter and removes the message", async () => {
  const topology = freshTopology();
  const nc = await conn();
  const a = await transport(nc, topology, 2);
  const b = await transport(await conn(), topology, 2);
  const spec = makeJob();
  await a.enqueue([spec]);
  // First delivery fails and is retried; the second lapses (its holder vanished).
  const job1 = await a.dequeue({ workerId: "a", waitMs: LEASE_MS * 4 });
  assert.is(job1?.deliveryCount, 1);
  await a.fail(job1!, { error: "boom", retry: true });
  const job2 = await a.dequeue({ workerId: "a", waitMs: LEASE_MS * 4 });
  assert.is(job2?.deliveryCount, 2);
  // 2.9 notices the lapsed last delivery while serving a pull: one orchestrator keeps dequeuing
  // (as hosts do); the dead letter surfaces on exactly one of the two.
  const dead: DeadLetteredJob[] = [];
  await eventually("a dead letter", LEASE_MS * 10, async () => {
    assert.is(await a.dequeue({ workerId: "a", waitMs: 50 }), null, "delivered beyond MaxDeliver");
    const found = await Promise.all([a, b].map((tr) => tr.releaseStale(new Date(), 0)));
    for (const f of found) dead.push(...f.deadLettered);
    return dead.length > 0 ? true : undefined;
  });
  for (const tr of [a, b]) dead.push(...(await tr.releaseStale(new Date(), 0)).deadLettered);
  assert.is(dead.length, 1);
  assert.is(dead[0]!.job.jobId, spec.jobId);
  assert.match(dead[0]!.reason, /2 times/);
  const jsm = await jetstreamManager(nc);
  assert.is((await jsm.streams.info(topology.streams.jobs)).state.messages, 0);
});

t("a retry asked for on the last delivery is dead-lettered at once with the error", async () => {
  const topology = freshTopology();
  const nc = await conn();
  const a = await transport(nc, topology, 1);
  await a.enqueue([makeJob()]);
  const job = await a.dequeue({ workerId: "a", waitMs: 1000 });
  await a.fail(job!, { error: "kaput", retry: true });
  const { deadLettered } = await a.releaseStale(new Date(), 0);
  assert.is(deadLettered.length, 1);
  assert.match(deadLettered[0]!.reason, /kaput/);
  assert.is((await (await jetstreamManager(nc)).streams.info(topology.streams.jobs)).state.messages, 0);
});

t("fail without retry drops the job for good", async () => {
  const topology = freshTopology();
  const nc = await conn();
  const a = await transport(nc, topology);
  await a.enqueue([makeJob()]);
  const job = await a.dequeue({ workerId: "a", waitMs: 1000 });
  await a.fail(job!, { error: "fatal", retry: false });
  assert.is(await a.dequeue({ workerId: "a", waitMs: LEASE_MS * 2 }), null);
  const jsm = await jetstreamManager(nc);
  assert.is((await jsm.streams.info(topology.streams.jobs)).state.messages, 0);
});

t("a delayed job is not handed out early and arrives with its full delivery budget", async () => {
  const topology = freshTopology();
  const a = await transport(await conn(), topology, 1);
  const availableAt = new Date(Date.now() + 600);
  await a.enqueue([makeJob({ availableAt })]);
  assert.is(await a.dequeue({ workerId: "a", waitMs: 0 }), null);
  assert.is(await a.depth(), 1);
  const job = await a.dequeue({ workerId: "a", waitMs: 3000 });
  assert.ok(job, "delayed job never arrived");
  assert.ok(Date.now() >= availableAt.getTime(), "handed out before availableAt");
  assert.is(job.deliveryCount, 1);
  assert.equal(job.availableAt, availableAt);
  await a.complete(job);
});

t("a delayed job the jobs stream keeps refusing is dead-lettered after bounded retries, not retried forever", async () => {
  const topology = freshTopology();
  const nc = await conn();
  const a = await createJetStreamJobTransport(nc, {
    topology,
    leaseMs: LEASE_MS,
    maxDeliveries: 5,
    promoterPollMs: 200,
    maxPromotionAttempts: 3,
    promotionRetryMs: 50,
  });
  open.unshift(a);
  // An operator shrank the jobs stream's message limit: every promotion of this job is refused.
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(topology.streams.jobs);
  await jsm.streams.update(topology.streams.jobs, { ...info.config, max_msg_size: 16 });
  const job = makeJob({ availableAt: new Date(Date.now() + 100) });
  await a.enqueue([job]);
  assert.is(await a.dequeue({ workerId: "a", waitMs: 0 }), null); // starts the promoter
  const dead: DeadLetteredJob[] = [];
  await eventually("a dead letter for the unpromotable job", 30_000, async () => {
    dead.push(...(await a.releaseStale(new Date(), 0)).deadLettered);
    return dead.length > 0 ? true : undefined;
  });
  assert.is(dead.length, 1);
  assert.is(dead[0]!.job.jobId, job.jobId);
  assert.match(dead[0]!.reason, /promotion to .* failed 3 times/);
  // Terminated: the delayed stream no longer holds it, so nothing keeps retrying.
  await eventually("delayed stream drained", 10_000, async () =>
    (await jsm.streams.info(topology.streams.jobsDelayed)).state.messages === 0 ? true : undefined,
  );
});

t("operations with a superseded lease token are ignored", async () => {
  const topology = freshTopology();
  const a = await transport(await conn(), topology);
  await a.enqueue([makeJob()]);
  const first = await a.dequeue({ workerId: "a", waitMs: 1000 });
  const second = await a.dequeue({ workerId: "a", waitMs: LEASE_MS * 4 }); // after the lease lapsed
  assert.is(second?.deliveryCount, 2);
  await a.complete(first!); // stale: must not ack the live delivery
  await a.heartbeat(second!);
  await a.complete(second!);
  assert.is(await a.dequeue({ workerId: "a", waitMs: LEASE_MS * 2 }), null);
});

test.run();

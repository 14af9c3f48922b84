// ensureTopology against a real 2.9 server: creates everything, is idempotent (also when racing
// another process), reconciles drift, and refuses a stream whose retention cannot change.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { ensureTopology } from "../../adapters/jetstream/topology.js";
import { topologyStatus } from "../../adapters/jetstream/topology-status.js";
import { JetflowError } from "../../src/contract/errors.js";
import { freshTopology } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
let nc: NatsConnection;
let nc2: NatsConnection;

test.before(async () => {
  if (!svc) return;
  nc = await connect({ servers: svc.nats.url });
  nc2 = await connect({ servers: svc.nats.url });
});
test.after(async () => {
  await nc?.close();
  await nc2?.close();
  await svc?.stop();
});

t("creates every stream and consumer with the requested limits; a second call changes nothing", async () => {
  const topology = freshTopology();
  const jsm = await jetstreamManager(nc);
  const opts = { topology, jobAckWaitMs: 700, jobMaxDeliver: 4, eventsMaxAgeMs: 60_000, duplicateWindowMs: 30_000 };
  const first = await ensureTopology(jsm, opts);
  assert.is(first.created.length, 11); // 6 streams, 3 job bands, delayed, dead letters
  assert.match(first.serverVersion, /^2\./);
  const jobs = await jsm.streams.info(topology.streams.jobs);
  assert.is(jobs.config.retention, RetentionPolicy.Workqueue);
  assert.equal(jobs.config.subjects, [`${topology.prefix}.jobs.>`]);
  assert.is(jobs.config.duplicate_window, nanos(30_000));
  const events = await jsm.streams.info(topology.streams.events);
  assert.is(events.config.retention, RetentionPolicy.Limits);
  assert.is(events.config.max_age, nanos(60_000));
  const consumer = await jsm.consumers.info(topology.streams.jobs, topology.consumers.jobs);
  assert.is(consumer.config.ack_wait, nanos(700));
  assert.is(consumer.config.max_deliver, 4);
  const second = await ensureTopology(jsm, opts);
  assert.is(second.created.length + second.updated.length, 0);
  assert.is(second.unchanged.length, 11);
});

t("two processes initialising at once both succeed", async () => {
  const topology = freshTopology();
  const [a, b] = await Promise.all([
    ensureTopology(await jetstreamManager(nc), { topology, jobAckWaitMs: 500 }),
    ensureTopology(await jetstreamManager(nc2), { topology, jobAckWaitMs: 500 }),
  ]);
  assert.is(new Set([...a.created, ...b.created]).size + 0 >= 11, true);
  const again = await ensureTopology(await jetstreamManager(nc), { topology, jobAckWaitMs: 500 });
  assert.is(again.unchanged.length, 11);
});

t("a changed lease or retention window is applied as an update", async () => {
  const topology = freshTopology();
  const jsm = await jetstreamManager(nc);
  await ensureTopology(jsm, { topology, jobAckWaitMs: 500, eventsMaxAgeMs: 60_000 });
  const r = await ensureTopology(jsm, { topology, jobAckWaitMs: 900, eventsMaxAgeMs: 120_000 });
  assert.ok(
    r.updated.some((u) => u.startsWith(`consumer ${topology.streams.jobs}/`)),
    r.updated.join("; "),
  );
  assert.ok(
    r.updated.some((u) => u.startsWith(`stream ${topology.streams.events}`)),
    r.updated.join("; "),
  );
  assert.is((await jsm.consumers.info(topology.streams.jobs, topology.consumers.jobs)).config.ack_wait, nanos(900));
});

t("a same-named stream with another retention is a CONFLICT, not silently reused", async () => {
  const topology = freshTopology();
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: topology.streams.jobs, subjects: [`${topology.prefix}.jobs.>`], retention: RetentionPolicy.Limits });
  try {
    await ensureTopology(jsm, { topology });
    assert.unreachable("reused a limits stream as the jobs work queue");
  } catch (err) {
    assert.instance(err, JetflowError);
    assert.is((err as JetflowError).code, "CONFLICT");
  }
});

t("on one server, topologyStatus lists each stream and durable consumer as R1, answered by the server itself, healthy", async () => {
  const topology = freshTopology();
  const jsm = await jetstreamManager(nc);
  await ensureTopology(jsm, { topology });
  const assets = await topologyStatus(jsm, { streamPrefix: topology.streamPrefix, prefix: topology.prefix });
  const jobs = assets.find((a) => a.name === topology.streams.jobs);
  assert.ok(jobs, `the jobs stream is listed (got ${assets.map((a) => a.name).join(", ")})`);
  assert.is(jobs!.kind, "stream");
  assert.ok(assets.some((a) => a.kind === "consumer" && a.name === `${topology.streams.jobs}/${topology.consumers.jobs}`));
  for (const a of assets.filter((x) => x.name.startsWith(topology.streamPrefix))) {
    assert.is(a.replicas, 1, a.name);
    assert.is(a.leader, "(single server)", a.name);
    assert.equal(a.followers, [], a.name);
    assert.ok(a.healthy, a.name);
  }
});

test.run();

/**
 * Jobs/s through the JetStream JobTransport (enqueue → dequeue → complete) against a raw
 * JetStream baseline doing the same work with the client library directly (publish with a
 * Nats-Msg-Id → pull one → ack confirmed by the server), on the same server in the same run.
 * Both sides are warmed up, then measured in alternating rounds (each on fresh file streams);
 * the medians are compared.
 *
 *   npx tsx bench/jetstream.ts [jobs=2000] [rounds=3]
 *
 * Uses JETFLOW_TEST_NATS_URL when set, otherwise starts its own nats-server.
 */
import { AckPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { createJetStreamJobTransport } from "../adapters/jetstream/job-transport.js";
import { createTopology } from "../src/contract/topology.js";
import type { JobSpec } from "../src/ports/job-transport.js";
import { useNats } from "../integration/harness/index.js";
import { assertFileStorage, natsSettings, NATS_CLIENT } from "./support/servers.js";
import { load, median } from "./support/stats.js";

const N = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 3);
const BATCH = 100;

function job(i: number, tag: string): JobSpec {
  const runId = `${tag}-run-${i}`;
  return {
    jobId: `${runId}:s:1`,
    workflowRunId: runId,
    workflowId: "bench",
    stageId: "s",
    attempt: 1,
    maxAttempts: 3,
    priority: 0,
    payload: { i },
  };
}

/** Raw baseline: same message bodies, same dedupe header, single pulls, confirmed acks. Returns ms. */
async function rawPass(nc: NatsConnection, n: number, tag: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const rawStream = `BENCH_RAW_${tag}`.toUpperCase();
  await jsm.streams.add({
    name: rawStream,
    subjects: [`bench${tag}.raw.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
  });
  await jsm.consumers.add(rawStream, { durable_name: "c", ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_deliver: 5 });
  await assertFileStorage(nc, [rawStream]);
  const js = jetstream(nc);
  const consumer = await js.consumers.get(rawStream, "c");
  const enc = new TextEncoder();
  try {
    const t0 = performance.now();
    for (let i = 0; i < n; i += BATCH) {
      await Promise.all(
        Array.from({ length: Math.min(BATCH, n - i) }, (_, k) => {
          const j = job(i + k, `raw${tag}`);
          return js.publish(`bench${tag}.raw.default`, enc.encode(JSON.stringify(j)), { msgID: j.jobId });
        }),
      );
    }
    for (let i = 0; i < n; i++) {
      const m = await consumer.next({ expires: 5_000 });
      if (!m) throw new Error(`raw baseline: message ${i} missing`);
      JSON.parse(new TextDecoder().decode(m.data));
      await m.ackAck();
    }
    return performance.now() - t0;
  } finally {
    await jsm.streams.delete(rawStream);
  }
}

/** The JobTransport on a fresh topology (file storage, its default). Returns ms. */
async function transportPass(nc: NatsConnection, n: number, tag: string): Promise<number> {
  const topology = createTopology({ prefix: `bench${tag}`, streamPrefix: `BENCH_${tag}`.toUpperCase() });
  const transport = await createJetStreamJobTransport(nc, { topology, leaseMs: 30_000, maxDeliveries: 5 });
  await assertFileStorage(nc, [topology.streams.jobs]);
  try {
    const t1 = performance.now();
    for (let i = 0; i < n; i += BATCH) {
      await transport.enqueue(Array.from({ length: Math.min(BATCH, n - i) }, (_, k) => job(i + k, `tr${tag}`)));
    }
    for (let i = 0; i < n; i++) {
      const j = await transport.dequeue({ workerId: "bench", waitMs: 5_000 });
      if (!j) throw new Error(`transport: job ${i} missing`);
      await transport.complete(j);
    }
    return performance.now() - t1;
  } finally {
    await transport.close();
    const jsm = await jetstreamManager(nc);
    for (const s of Object.values(topology.streams)) await jsm.streams.delete(s);
  }
}

async function main(): Promise<void> {
  const nats = await useNats();
  const nc = await connect({ servers: nats.url, ...NATS_CLIENT });
  try {
    const base = Date.now().toString(36);
    // Warm-up of both sides (JIT, connection, server caches), not reported.
    const warm = Math.min(200, N);
    await rawPass(nc, warm, `${base}w`);
    await transportPass(nc, warm, `${base}w`);
    const raw: number[] = [];
    const tr: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which side goes first, so neither always runs on a fresher server.
      const tag = `${base}r${r}`;
      if (r % 2 === 0) {
        raw.push(await rawPass(nc, N, tag));
        tr.push(await transportPass(nc, N, tag));
      } else {
        tr.push(await transportPass(nc, N, tag));
        raw.push(await rawPass(nc, N, tag));
      }
    }
    const rawMs = median(raw);
    const trMs = median(tr);
    const rate = (ms: number): number => Math.round((N / ms) * 1000);
    console.log(`${natsSettings(nc)} (${nats.source}); ${load()}`);
    console.log(
      `nats ${nats.source} ${nc.info?.version ?? ""}, ${N} jobs, enqueue in batches of ${BATCH}, then one-at-a-time dequeue + complete; median of ${ROUNDS} alternating rounds after a warm-up (best raw ${rate(Math.min(...raw))}, best transport ${rate(Math.min(...tr))} jobs/s)`,
    );
    console.log(`raw JetStream (publish+msgID, next(), ackAck): ${rate(rawMs)} jobs/s (${rawMs.toFixed(0)} ms)`);
    console.log(`JetStreamJobTransport (enqueue, dequeue, complete): ${rate(trMs)} jobs/s (${trMs.toFixed(0)} ms)`);
    console.log(`ratio transport/raw: ${(rawMs / trMs).toFixed(2)}`);
  } finally {
    await nc.close();
    await nats.stop();
  }
}

await main();

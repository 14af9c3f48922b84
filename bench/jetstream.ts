/**
 * Jobs/s through the JetStream JobTransport (enqueue → dequeue → complete) against a raw
 * JetStream baseline doing the same work with the client library directly (publish with a
 * Nats-Msg-Id → pull one → ack confirmed by the server), on the same server in the same run.
 *
 *   npx tsx bench/jetstream.ts [jobs=2000]
 *
 * Uses JETFLOW_TEST_NATS_URL when set, otherwise starts its own nats-server.
 */
import { AckPolicy, RetentionPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, nanos } from "@nats-io/transport-node";
import { createJetStreamJobTransport } from "../adapters/jetstream/job-transport.js";
import { createTopology } from "../src/contract/topology.js";
import type { JobSpec } from "../src/ports/job-transport.js";
import { useNats } from "../integration/harness/index.js";

const N = Number(process.argv[2] ?? 2000);
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

async function main(): Promise<void> {
  const nats = await useNats();
  const nc = await connect({ servers: nats.url });
  try {
    const tag = Date.now().toString(36);
    // Raw baseline: same message bodies, same dedupe header, single pulls, confirmed acks.
    const jsm = await jetstreamManager(nc);
    const rawStream = `BENCH_RAW_${tag}`.toUpperCase();
    await jsm.streams.add({ name: rawStream, subjects: [`bench${tag}.raw.>`], retention: RetentionPolicy.Workqueue });
    await jsm.consumers.add(rawStream, { durable_name: "c", ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_deliver: 5 });
    const js = jetstream(nc);
    const consumer = await js.consumers.get(rawStream, "c");
    const enc = new TextEncoder();
    const t0 = performance.now();
    for (let i = 0; i < N; i += BATCH) {
      await Promise.all(
        Array.from({ length: Math.min(BATCH, N - i) }, (_, k) => {
          const j = job(i + k, `raw${tag}`);
          return js.publish(`bench${tag}.raw.default`, enc.encode(JSON.stringify(j)), { msgID: j.jobId });
        }),
      );
    }
    for (let i = 0; i < N; i++) {
      const m = await consumer.next({ expires: 5_000 });
      if (!m) throw new Error(`raw baseline: message ${i} missing`);
      JSON.parse(new TextDecoder().decode(m.data));
      await m.ackAck();
    }
    const rawMs = performance.now() - t0;

    const transport = await createJetStreamJobTransport(nc, {
      topology: createTopology({ prefix: `bench${tag}`, streamPrefix: `BENCH_${tag}`.toUpperCase() }),
      leaseMs: 30_000,
      maxDeliveries: 5,
    });
    const t1 = performance.now();
    for (let i = 0; i < N; i += BATCH) {
      await transport.enqueue(Array.from({ length: Math.min(BATCH, N - i) }, (_, k) => job(i + k, `tr${tag}`)));
    }
    for (let i = 0; i < N; i++) {
      const j = await transport.dequeue({ workerId: "bench", waitMs: 5_000 });
      if (!j) throw new Error(`transport: job ${i} missing`);
      await transport.complete(j);
    }
    const trMs = performance.now() - t1;
    await transport.close();

    const rate = (ms: number): number => Math.round((N / ms) * 1000);
    console.log(
      `nats ${nats.source} ${nc.info?.version ?? ""}, ${N} jobs, enqueue in batches of ${BATCH}, then one-at-a-time dequeue + complete`,
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

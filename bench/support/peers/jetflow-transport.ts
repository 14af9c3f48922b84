/**
 * jetflow's kernel job transport on JetStream (file storage): enqueue one job per call, each
 * worker (own connection, own transport) runs `inflight` lanes of dequeue → handler → complete.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createJetStreamJobTransport, type JetStreamJobTransport } from "../../../adapters/jetstream/job-transport.js";
import { freshTopology } from "../../../integration/jetstream/helpers.js";
import { assertFileStorage, NATS_CLIENT } from "../servers.js";
import { payload } from "../stats.js";
import type { Hooks, Peer, Session } from "./types.js";

const OPTS = { leaseMs: 30_000, maxDeliveries: 5 };

export function jetflowTransport(natsUrl: string, nc: NatsConnection): Peer {
  return {
    name: "jetflow JetStream JobTransport",
    async open(): Promise<Session> {
      const topology = freshTopology();
      const producer = await createJetStreamJobTransport(nc, { topology, ...OPTS });
      await assertFileStorage(nc, [topology.streams.jobs]);
      const stop = new AbortController();
      const held: { nc: NatsConnection; t: JetStreamJobTransport }[] = [];
      const loops: Promise<void>[] = [];
      return {
        async start(workers: number, inflight: number, hooks: Hooks) {
          for (let w = 0; w < workers; w++) {
            const wnc = await connect({ servers: natsUrl, ...NATS_CLIENT });
            const t = await createJetStreamJobTransport(wnc, { topology, ...OPTS, ensure: false });
            held.push({ nc: wnc, t });
            for (let l = 0; l < inflight; l++) {
              loops.push(
                (async () => {
                  while (!stop.signal.aborted) {
                    const job = await t.dequeue({ workerId: `w${w}`, waitMs: 1_000 });
                    if (!job) continue;
                    const i = (job.payload as { i: number }).i;
                    hooks.started(i);
                    await t.complete(job);
                    hooks.completed(i);
                  }
                })(),
              );
            }
          }
        },
        async enqueue(i: number) {
          const runId = `r${i}`;
          await producer.enqueue([
            {
              jobId: `${runId}:s:1`,
              workflowRunId: runId,
              workflowId: "bench",
              stageId: "s",
              attempt: 1,
              maxAttempts: 3,
              priority: 0,
              payload: payload(i),
            },
          ]);
        },
        async close() {
          stop.abort();
          await Promise.all(loops);
          for (const h of held) {
            await h.t.close();
            await h.nc.close();
          }
          await producer.close();
          const jsm = await jetstreamManager(nc);
          for (const s of Object.values(topology.streams)) await jsm.streams.delete(s);
        },
      };
    },
    async close() {},
  };
}

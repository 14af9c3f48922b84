/**
 * The floor: JetStream through the client library alone. Publish with a Nats-Msg-Id (awaiting the
 * PubAck), each worker connection runs `inflight` lanes of next() → handler → ackAck(), on a file
 * work-queue stream like jetflow's.
 */
import { AckPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { assertFileStorage, NATS_CLIENT } from "../servers.js";
import { payload } from "../stats.js";
import type { Hooks, Peer, Session } from "./types.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

export function rawJetStream(natsUrl: string, nc: NatsConnection): Peer {
  let seq = 0;
  return {
    name: "raw JetStream (publish, pull, ack)",
    async open(): Promise<Session> {
      const tag = `${process.pid}_${++seq}_${Date.now().toString(36)}`;
      const stream = `BENCH_RAW_${tag}`.toUpperCase();
      const subject = `benchraw.${tag}`;
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
      await jsm.consumers.add(stream, { durable_name: "c", ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_deliver: 5 });
      await assertFileStorage(nc, [stream]);
      const js = jetstream(nc);
      const stop = new AbortController();
      const conns: NatsConnection[] = [];
      const loops: Promise<void>[] = [];
      return {
        async start(workers: number, inflight: number, hooks: Hooks) {
          for (let w = 0; w < workers; w++) {
            const wnc = await connect({ servers: natsUrl, ...NATS_CLIENT });
            conns.push(wnc);
            const c = await jetstream(wnc).consumers.get(stream, "c");
            for (let l = 0; l < inflight; l++) {
              loops.push(
                (async () => {
                  while (!stop.signal.aborted) {
                    const m = await c.next({ expires: 1_000 });
                    if (!m) continue;
                    const { i } = JSON.parse(dec.decode(m.data)) as { i: number };
                    hooks.started(i);
                    await m.ackAck();
                    hooks.completed(i);
                  }
                })(),
              );
            }
          }
        },
        async enqueue(i: number) {
          await js.publish(subject, enc.encode(JSON.stringify(payload(i))), { msgID: `${tag}-${i}` });
        },
        async close() {
          stop.abort();
          await Promise.all(loops);
          for (const c of conns) await c.close();
          await jsm.streams.delete(stream);
        },
      };
    },
    async close() {},
  };
}

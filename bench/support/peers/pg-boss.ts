/**
 * pg-boss on Postgres. It has no push wake-up: each worker polls (here at its minimum, 0.5 s)
 * and fetches up to `inflight` jobs per poll. A job counts as done when its batch handler
 * returned; pg-boss marks the batch completed right after (one statement), so this flatters it slightly.
 */
import PgBoss from "pg-boss";
import { payload } from "../stats.js";
import type { Hooks, Peer, Session } from "./types.js";

const POLL_S = 0.5;

function boss(pgUrl: string, main: boolean): PgBoss {
  const b = new PgBoss({ connectionString: pgUrl, ...(main ? {} : { supervise: false, schedule: false, migrate: false }) });
  b.on("error", (err) => process.stderr.write(`[pg-boss] ${(err as Error).message}\n`));
  return b;
}

export async function pgBoss(pgUrl: string): Promise<Peer> {
  const producer = boss(pgUrl, true);
  await producer.start();
  let seq = 0;
  return {
    name: "pg-boss",
    async open(): Promise<Session> {
      const queue = `bench_${++seq}`;
      await producer.createQueue(queue);
      const workers: PgBoss[] = [];
      return {
        async start(n: number, inflight: number, hooks: Hooks) {
          for (let w = 0; w < n; w++) {
            const b = boss(pgUrl, false);
            await b.start();
            await b.work<{ i: number }>(queue, { batchSize: inflight, pollingIntervalSeconds: POLL_S }, async (jobs) => {
              for (const j of jobs) hooks.started(j.data.i);
              for (const j of jobs) hooks.completed(j.data.i);
            });
            workers.push(b);
          }
        },
        async enqueue(i: number) {
          await producer.send(queue, payload(i));
        },
        async close() {
          // The queue stays: pg-boss 10's deleteQueue fails while completed jobs reference it,
          // and the bench's database is dropped at the end anyway.
          for (const b of workers) await b.stop({ graceful: true, wait: true, timeout: 10_000 });
        },
      };
    },
    async close() {
      await producer.stop({ graceful: true, wait: true, timeout: 10_000 });
    },
  };
}

/** BullMQ on Redis with default job options (completed jobs kept, like jetflow keeps its task rows). */
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { payload } from "../stats.js";
import type { Hooks, Peer, Session, Skipped } from "./types.js";

const NAME = "BullMQ (Redis)";

/** The peer, or why it is skipped (no Redis answering at `url`). */
export async function bullmq(url: string): Promise<Peer | Skipped> {
  const u = new URL(url);
  const connection = { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
  const probe = new Redis({ ...connection, lazyConnect: true, connectTimeout: 2_000, retryStrategy: () => null });
  // ioredis reports the refused connection as an "error" event too; keep it for the skip message.
  let cause: Error | undefined;
  probe.on("error", (err: Error) => (cause = err));
  let version: string;
  try {
    await probe.connect();
    version = /redis_version:(\S+)/.exec(await probe.info("server"))?.[1] ?? "?";
  } catch (err) {
    return { name: NAME, skipped: `no Redis at ${url} (${(cause ?? (err as Error)).message})` };
  } finally {
    probe.disconnect();
  }
  let seq = 0;
  return {
    name: NAME,
    version: `redis ${version}`,
    async open(): Promise<Session> {
      const name = `bench-${process.pid}-${++seq}`;
      const queue = new Queue(name, { connection });
      await queue.waitUntilReady();
      const workers: Worker[] = [];
      return {
        async start(n: number, inflight: number, hooks: Hooks) {
          for (let w = 0; w < n; w++) {
            const worker = new Worker(
              name,
              async (job) => {
                hooks.started((job.data as { i: number }).i);
              },
              { connection, concurrency: inflight },
            );
            worker.on("completed", (job) => hooks.completed((job.data as { i: number }).i));
            await worker.waitUntilReady();
            workers.push(worker);
          }
        },
        async enqueue(i: number) {
          await queue.add("job", payload(i));
        },
        async close() {
          for (const w of workers) await w.close();
          await queue.obliterate({ force: true });
          await queue.close();
        },
      };
    },
    async close() {},
  };
}

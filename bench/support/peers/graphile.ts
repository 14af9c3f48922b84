/** graphile-worker on Postgres (LISTEN/NOTIFY wake-ups); a job counts as done on `job:complete`, after its row is written back. */
import { Logger, makeWorkerUtils, run, type Runner, type WorkerUtils } from "graphile-worker";
import { payload } from "../stats.js";
import type { Hooks, Peer, Session } from "./types.js";

/** graphile-worker logs every worker start and stop at info; a bench prints only its numbers. */
const quiet = new Logger(() => (level, message) => {
  if (level === "error") process.stderr.write(`[graphile-worker] ${message}\n`);
});

export async function graphileWorker(pgUrl: string): Promise<Peer> {
  const utils: WorkerUtils = await makeWorkerUtils({ connectionString: pgUrl, logger: quiet });
  await utils.migrate();
  let seq = 0;
  return {
    name: "graphile-worker",
    async open(): Promise<Session> {
      // A task name of its own per measurement: leftovers of another round are never picked up.
      const task = `bench_${++seq}`;
      const runners: Runner[] = [];
      return {
        async start(workers: number, inflight: number, hooks: Hooks) {
          for (let w = 0; w < workers; w++) {
            const runner = await run({
              connectionString: pgUrl,
              concurrency: inflight,
              noHandleSignals: true,
              logger: quiet,
              taskList: {
                [task]: async (p) => {
                  hooks.started((p as { i: number }).i);
                },
              },
            });
            runner.events.on("job:complete", ({ job, error }) => {
              if (!error) hooks.completed((job.payload as { i: number }).i);
            });
            runners.push(runner);
          }
        },
        async enqueue(i: number) {
          await utils.addJob(task, payload(i));
        },
        async close() {
          for (const r of runners) await r.stop();
        },
      };
    },
    async close() {
      await utils.release();
    },
  };
}

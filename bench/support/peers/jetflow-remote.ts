/**
 * A jetflow remote activity end to end: broker.submit (Postgres insert + JetStream publish) →
 * SDK worker pull + start → no-op stage → durable report → report consumer → outcome committed
 * to Postgres. The orchestrator side is the integration helper the remote tests use, on streams
 * pre-created with file storage (the helper alone would make them memory streams, which the raw
 * JetStream baseline does not get). Workers run inline (no thread per task), in this process.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { ensureTopology } from "../../../adapters/jetstream/topology.js";
import { freshTopology } from "../../../integration/jetstream/helpers.js";
import { postgresTaskStore, startOrchestrator } from "../../../integration/remote/helpers.js";
import { spec, stage } from "../../../test/remote/helpers/fixture.js";
import { createActivityWorker, type ActivityWorker } from "../../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../../worker-sdk/nats-transport.js";
import { assertFileStorage, NATS_CLIENT } from "../servers.js";
import { payload } from "../stats.js";
import type { Hooks, Peer, Session } from "./types.js";

const QUEUE = "bench";
const VERSION = "v1";

export function jetflowRemote(natsUrl: string, nc: NatsConnection, pgUrl: string): Peer {
  return {
    name: "jetflow remote activity, end to end",
    async open(): Promise<Session> {
      const pg = await postgresTaskStore(pgUrl);
      const topology = freshTopology();
      await ensureTopology(await jetstreamManager(nc), { topology, storage: "file" });
      const orch = await startOrchestrator({
        url: natsUrl,
        topology,
        queue: QUEUE,
        codeVersion: VERSION,
        leaseMs: 30_000,
        taskStore: pg.store,
      });
      await assertFileStorage(nc, [topology.streams.tasks, topology.streams.reports]);
      const running: { w: ActivityWorker; nc: NatsConnection; close?: () => Promise<void> }[] = [];
      const indexOf = new Map<string, number>();
      const early = new Set<string>();
      let hooks: Hooks | undefined;
      const off = orch.broker.onOutcome((taskId) => {
        const i = indexOf.get(taskId);
        if (i === undefined)
          early.add(taskId); // outcome before submit() returned its id
        else hooks?.completed(i);
      });
      return {
        async start(workers: number, inflight: number, h: Hooks) {
          hooks = h;
          const body = stage(
            "noop",
            async (ctx) => {
              h.started((ctx.input as { i: number }).i);
              return { output: {} };
            },
            { input: z.object({ i: z.number(), pad: z.string() }), output: z.object({}) },
          );
          for (let w = 0; w < workers; w++) {
            const wnc = await connect({ servers: natsUrl, ...NATS_CLIENT });
            const transport = createNatsWorkerTransport(wnc, { topology, queue: QUEUE, codeVersion: VERSION });
            const worker = createActivityWorker({
              transport,
              queue: QUEUE,
              stageCodeVersion: VERSION,
              workerId: `w${w}`,
              registry: { noop: body },
              maxConcurrentTasks: inflight,
              pollWaitMs: 1_000,
            });
            worker.start();
            running.push({ w: worker, nc: wnc, ...(transport.close ? { close: transport.close } : {}) });
          }
        },
        async enqueue(i: number) {
          const id = await orch.broker.submit(
            spec({ workflowRunId: `r${i}`, stageId: "noop", queue: QUEUE, codeVersion: VERSION, input: payload(i) }),
          );
          indexOf.set(id, i);
          if (early.delete(id)) hooks?.completed(i);
        },
        async close() {
          off();
          for (const r of running) await r.w.stop();
          for (const r of running) {
            await r.close?.();
            await r.nc.close();
          }
          await orch.close();
          await pg.close();
          const jsm = await jetstreamManager(nc);
          for (const s of Object.values(topology.streams)) await jsm.streams.delete(s);
        },
      };
    },
    async close() {},
  };
}

// Plain liveness beats cost no broker request (so no Postgres write): a worker beating every
// 200 ms under a 2 s lease sends `+WPI` each beat and asks the broker only about every half
// lease, and the lease never lapses: the task completes on its first attempt. A worker holding
// several tasks sends the lease refreshes that fall due together as one batch request.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import type { Topology } from "../../src/contract/topology.js";
import { brokerSubject } from "../../adapters/jetstream/remote/names.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import { natsSdkWorker, until, startOrchestratorOnPostgres } from "./helpers.js";

const svc = await services(["nats", "postgres"]);
const t = svc ? test : test.skip;
const QUEUE = "default";
const VERSION = "v1";
const LEASE_MS = 2_000;
const HEARTBEAT_MS = 200;
const cleanups: (() => Promise<void>)[] = [];

test.after(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await svc?.stop();
});

/** The worker options both tests share: this file's queue and version, beating every HEARTBEAT_MS. */
const workerOf = (topology: Topology) => ({ topology, queue: QUEUE, codeVersion: VERSION, heartbeatIntervalMs: HEARTBEAT_MS });

t("a task beating for three half-leases sends +WPI every beat but a broker heartbeat only about every half lease", async () => {
  const { orch, pg, topology } = await startOrchestratorOnPostgres(
    { nats: svc!.nats.url, postgres: svc!.postgres.url },
    {
      queue: QUEUE,
      codeVersion: VERSION,
      leaseMs: LEASE_MS,
    },
    cleanups,
  );

  // Observe both kinds of beat from a connection of the same account.
  const observer = await connect({ servers: svc!.nats.url });
  cleanups.push(() => observer.close());
  let brokerBeats = 0;
  let wpis = 0;
  observer.subscribe(brokerSubject(topology, QUEUE, "heartbeat"), {
    callback: (_err, m) => {
      if (!(JSON.parse(m.string()) as { start?: boolean }).start) brokerBeats++;
    },
  });
  observer.subscribe(`$JS.ACK.${topology.streams.tasks}.>`, {
    callback: (_err, m) => {
      if (m.string() === "+WPI") wpis++;
    },
  });
  await observer.flush();

  const w = await natsSdkWorker(
    svc!.nats.url,
    {
      ...workerOf(topology),
      maxConcurrentTasks: 1,
      registry: {
        heavy: stage("heavy", async (ctx) => {
          // Runs until the broker has been asked three times: three half-leases, 1.5 leases in all.
          await until(() => brokerBeats >= 3, 30_000, "three broker heartbeats");
          return { output: { r: ctx.input.n } };
        }),
      },
    },
    cleanups,
  );
  w.start();

  const taskId = await orch.broker.submit(spec({ queue: QUEUE, codeVersion: VERSION, input: { n: 7 } }));
  await until(async () => (await pg.store.getTask(taskId))?.status === "COMPLETED", 40_000, "the task to complete");
  const task = await pg.store.getTask(taskId);
  assert.is(task?.attempt, 1, "the lease never lapsed: no second attempt");
  assert.equal(task?.output, { r: 7 });
  // Every beat is a +WPI; only about one in (lease/2) / interval = 5 also reaches the broker.
  assert.ok(wpis >= 3 * brokerBeats, `${wpis} +WPI vs ${brokerBeats} broker heartbeats`);
});

t("a worker holding eight tasks refreshes their leases in shared batch requests, and every task completes on attempt 1", async () => {
  const { orch, pg, topology } = await startOrchestratorOnPostgres(
    { nats: svc!.nats.url, postgres: svc!.postgres.url },
    { queue: QUEUE, codeVersion: VERSION, leaseMs: LEASE_MS },
    cleanups,
  );
  const observer = await connect({ servers: svc!.nats.url });
  cleanups.push(() => observer.close());
  /** Beats per lease-refresh request the broker was sent (1: a single beat). */
  const requests: number[] = [];
  observer.subscribe(brokerSubject(topology, QUEUE, "heartbeat"), {
    callback: (_err, m) => {
      const body = JSON.parse(m.string()) as { start?: boolean; beats?: unknown[] };
      if (!body.start) requests.push(body.beats?.length ?? 1);
    },
  });
  await observer.flush();

  const w = await natsSdkWorker(
    svc!.nats.url,
    {
      ...workerOf(topology),
      maxConcurrentTasks: 8,
      registry: {
        heavy: stage("heavy", async (ctx) => {
          // Held for at least three rounds of lease refreshes (each task's own, batched or not).
          await until(() => requests.reduce((a, b) => a + b, 0) >= 3 * 8, 30_000, "three rounds of lease refreshes");
          return { output: { r: ctx.input.n } };
        }),
      },
    },
    cleanups,
  );
  const ids = await Promise.all(
    Array.from({ length: 8 }, (_, n) =>
      orch.broker.submit(spec({ queue: QUEUE, codeVersion: VERSION, workflowRunId: `run-${n}`, input: { n } })),
    ),
  );
  w.start();
  await until(
    async () => (await Promise.all(ids.map((id) => pg.store.getTask(id)))).every((x) => x?.status === "COMPLETED"),
    40_000,
    "all eight tasks to complete",
  );
  for (const id of ids) assert.is((await pg.store.getTask(id))?.attempt, 1, `${id}: the lease never lapsed`);
  assert.ok(Math.max(...requests) >= 2, `some refreshes shared a request; beats per request: ${requests.join(",")}`);
  assert.ok(requests.length < requests.reduce((a, b) => a + b, 0), `fewer requests than beats: ${requests.join(",")}`);
});

test.run();

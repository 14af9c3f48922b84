// Progress survives a dead worker: heartbeat details go through a real nats-server into the
// Postgres task store, and the next attempt (on another worker) starts from them.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import { createActivityWorker, type ActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { gate, spec, stage } from "../../test/remote/helpers/fixture.js";
import { until, startOrchestratorOnPostgres } from "./helpers.js";

const svc = await services(["nats", "postgres"]);
const t = svc ? test : test.skip;
const QUEUE = "default";
const VERSION = "v1";
const LEASE_MS = 1_000;
const cleanups: (() => Promise<void>)[] = [];
const never = gate();

test.after(async () => {
  never.open(); // lets the dead worker's parked body return so its worker can stop
  while (cleanups.length > 0) await cleanups.pop()!();
  await svc?.stop();
});

t("the next attempt sees the last heartbeat details after the worker's connection dies", async () => {
  const { orch, pg, topology } = await startOrchestratorOnPostgres(
    { nats: svc!.nats.url, postgres: svc!.postgres.url },
    {
      queue: QUEUE,
      codeVersion: VERSION,
      leaseMs: LEASE_MS,
    },
    cleanups,
  );

  async function worker(workerId: string, body: Parameters<typeof stage>[1]) {
    const nc = await connect({ servers: svc!.nats.url });
    const transport = createNatsWorkerTransport(nc, { topology, queue: QUEUE, codeVersion: VERSION });
    const w: ActivityWorker = createActivityWorker({
      transport,
      queue: QUEUE,
      stageCodeVersion: VERSION,
      registry: { heavy: stage("heavy", body) },
      workerId,
      pollWaitMs: 300,
      heartbeatIntervalMs: 100,
    });
    cleanups.push(async () => {
      await w.stop({ drain: false });
      await transport.close?.();
      if (!nc.isClosed()) await nc.close();
    });
    w.start();
    return nc;
  }

  const firstSaw: unknown[] = [];
  const stepped = gate();
  const dying = await worker("w-dies", async (ctx) => {
    firstSaw.push(ctx.heartbeatDetails);
    for (let step = 1; step <= 3; step++) ctx.heartbeat({ step });
    stepped.open();
    await never.promise; // the machine drops off the network while here
    return { output: { r: -1 } };
  });
  const taskId = await orch.broker.submit(spec({ queue: QUEUE, codeVersion: VERSION, input: { n: 10 }, maxAttempts: 3 }));
  await stepped.promise;
  // The throttled last beat goes out on the next tick; wait until Postgres holds it.
  await until(async () => JSON.stringify((await pg.store.getTask(taskId))?.heartbeatDetails) === '{"step":3}', 5_000, "step 3 in Postgres");
  await dying.close();

  const secondSaw: unknown[] = [];
  await worker("w-resumes", async (ctx) => {
    secondSaw.push(ctx.heartbeatDetails);
    const from = (ctx.heartbeatDetails as { step: number } | undefined)?.step ?? 0;
    return { output: { r: ctx.input.n + from } };
  });
  const out = await orch.broker.waitForOutcome(taskId, { timeoutMs: LEASE_MS * 10 });
  assert.is(out?.status, "completed");
  assert.is(out?.attempt, 2);
  assert.is(out?.workerId, "w-resumes");
  assert.equal(firstSaw, [undefined], "attempt 1 started with no progress");
  assert.equal(secondSaw, [{ step: 3 }], "attempt 2 resumed from the last heartbeat");
  assert.equal(out?.output, { r: 13 });
  const [row] = await pg.sql`select attempt, status, heartbeat_details from ${pg.sql(pg.schema)}.activity_tasks where task_id = ${taskId}`;
  assert.equal({ ...row }, { attempt: 2, status: "COMPLETED", heartbeat_details: { step: 3 } });
});

test.run();

// A task capability opens one attempt (issue #12: "a start for attempt N+1 only succeeds once
// JetStream really redelivered"). A worker that was delivered a task once keeps its capability,
// and without this could open attempt after attempt on its own word (a forged attempt number,
// no delivery) once each lease lapsed. On real JetStream and Postgres: the attacker takes the
// task, opens attempt 1 and goes silent; every later start it sends with the old capability is
// refused, the task goes out again as a new message with a new capability, and an honest worker
// runs that message as attempt 2.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { brokerSubject, taskConsumerName } from "../../adapters/jetstream/remote/index.js";
import { parseTaskMessage, HeartbeatReply } from "../../src/contract/tasks.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import { until, startOrchestratorOnPostgres } from "./helpers.js";

const svc = await services(["nats", "postgres"]);
const t = svc ? test : test.skip;
const QUEUE = "default";
const VERSION = "v1";
const LEASE_MS = 1_000;
const cleanups: (() => Promise<void>)[] = [];

test.after(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await svc?.stop();
});

t("a delivered capability opens attempt 1 only; later attempts need a new message, which an honest worker runs as attempt 2", async () => {
  const { orch, pg, topology } = await startOrchestratorOnPostgres(
    { nats: svc!.nats.url, postgres: svc!.postgres.url },
    {
      queue: QUEUE,
      codeVersion: VERSION,
      leaseMs: LEASE_MS,
    },
    cleanups,
  );
  const attacker: NatsConnection = await connect({ servers: svc!.nats.url });
  cleanups.push(() => attacker.close());

  const taskId = await orch.broker.submit(spec({ workflowRunId: "run-cap", queue: QUEUE, codeVersion: VERSION, input: { n: 4 } }));
  const consumer = await jetstream(attacker).consumers.get(topology.streams.tasks, taskConsumerName(QUEUE, VERSION));
  const m = await consumer.next({ expires: 10_000 });
  assert.ok(m, "the attacker was delivered the task");
  const parsed = parseTaskMessage(m!.data);
  assert.ok(parsed.ok);
  const capability = parsed.ok ? (parsed.value.capability ?? "") : "";
  const start = async (attempt: number, cap = capability): Promise<HeartbeatReply> => {
    const body = { start: true, taskId, attempt, workerId: "w-attacker", codeVersion: VERSION, capability: cap };
    const reply = await attacker.request(brokerSubject(topology, QUEUE, "heartbeat"), JSON.stringify(body), { timeout: 10_000 });
    return HeartbeatReply.parse(reply.json());
  };

  const first = await start(1);
  assert.ok(first.accepted && first.leaseToken, JSON.stringify(first));
  const early = await start(2);
  assert.not.ok(early.accepted);
  assert.ok(early.reason?.startsWith("lease_live"), `a live lease: ${early.reason}`);
  assert.is((await orch.broker.getOutcome(taskId))?.attempt, 1);

  // The attacker goes silent. Once attempt 1's lease lapsed, a start on the old capability — with
  // any attempt number it likes — opens nothing; the broker answers `superseded` and publishes the
  // task again with a new capability.
  let lapsed: HeartbeatReply | undefined;
  await until(
    async () => {
      lapsed = await start(3);
      return !lapsed.reason?.startsWith("lease_live");
    },
    LEASE_MS * 30,
    "attempt 1's lease to lapse",
  );
  assert.not.ok(lapsed!.accepted);
  assert.ok(lapsed!.reason?.startsWith("superseded"), `superseded: ${lapsed!.reason}`);
  const row = await pg.store.getTask(taskId);
  assert.is(row?.attempt, 1, "no attempt opened");
  assert.is(row?.capabilitySpentBy, null, "the new capability is unspent");
  assert.ok(row?.capability && row.capability !== capability, "the capability was replaced");
  for (const attempt of [2, 4, 99]) {
    const r = await start(attempt);
    assert.not.ok(r.accepted, `attempt ${attempt} on the old capability`);
    assert.is(r.reason, "unknown_task", "the old capability proves nothing any more");
  }

  // The old message is redelivered too (the attacker never acked it); the honest worker's start
  // for it is refused like the attacker's, and the new message runs.
  const ran: number[] = [];
  const transport = createNatsWorkerTransport(attacker, { topology, queue: QUEUE, codeVersion: VERSION });
  const w = createActivityWorker({
    transport,
    queue: QUEUE,
    stageCodeVersion: VERSION,
    workerId: "w-honest",
    pollWaitMs: 300,
    registry: { heavy: stage("heavy", async (ctx) => (ran.push(ctx.attempt), { output: { r: ctx.input.n * 10 } })) },
  });
  w.start();
  cleanups.push(async () => {
    await w.stop();
    await transport.close?.();
  });
  const outcome = await orch.broker.waitForOutcome(taskId, { timeoutMs: 30_000 });
  assert.is(outcome?.status, "completed");
  assert.equal(outcome?.output, { r: 40 });
  assert.is(outcome?.attempt, 2);
  assert.equal(ran, [2], "the new message ran once, as attempt 2; the old message's redeliveries opened nothing");
  const done = await pg.store.getTask(taskId);
  assert.equal(
    done?.attempts?.map((a) => [a.attempt, a.workerId]),
    [
      [1, "w-attacker"],
      [2, "w-honest"],
    ],
  );
});

test.run();

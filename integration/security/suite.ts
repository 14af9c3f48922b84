/**
 * The acceptance suite of the worker trust boundary (issue 12), run against one deployment kind:
 * sets up victims (a task held by a peer of the same queue, a queue-b task, a v2 task of the
 * attacker's own queue) and the attacker's own legitimately started task, snapshots Postgres,
 * the streams and the registry, tries every forbidden operation of the table, snapshots again,
 * and then checks that legitimate work still completes.
 */
import { readFileSync } from "node:fs";
import * as assert from "uvu/assert";
import { nanos } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { reportMsgId, TaskMessage } from "../../src/contract/tasks.js";
import { workerRegistryBucket } from "../../src/contract/fleet.js";
import { brokerSubject, taskConsumerName } from "../../adapters/jetstream/remote/names.js";
import { createJetflowClient } from "../../adapters/jetstream/api/client.js";
import { revokeWorkerCreds } from "../../adapters/jetstream/auth/revoke.js";
import { fakeFleetWorker } from "../remote/attacks.js";
import { work, workflowOf } from "./fixtures/workflows.js";
import type { SecurityEnv } from "./env.js";
import { type AttackContext, type ForbiddenOperation, WentThrough, reportsSettled } from "./refusals.js";
import { natsOperations } from "./operations-nats.js";
import { brokerOperations } from "./operations-broker.js";
import { credsOperations } from "./operations-creds.js";

/** Every forbidden operation, in the order they are tried. */
// Broker operations first: the pull-reply attempts leave junk tasks queued, which the redelivery attempts would pull.
export const forbiddenOperations: ForbiddenOperation[] = [...brokerOperations, ...natsOperations, ...credsOperations];

/** Polls `read` (bounded by `ms`) until it returns a value. */
export async function until<T>(read: () => Promise<T | null | undefined>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function taskOfRun(env: SecurityEnv, runId: string, status?: string): Promise<string> {
  return until(
    async () => {
      const rows = await env.sql.unsafe(`select task_id, status from "${env.schema}".activity_tasks where run_id = $1`, [runId]);
      return rows[0] && (!status || rows[0].status === status) ? (rows[0].task_id as string) : null;
    },
    20_000,
    `the remote task of run ${runId}${status ? ` to be ${status}` : ""}`,
  );
}

export async function runOf(env: SecurityEnv, runId: string, status: string, ms = 30_000): Promise<{ output: unknown }> {
  return until(
    async () => {
      const rows = await env.sql.unsafe(`select status, output, error from "${env.schema}".runs where id = $1`, [runId]);
      if (rows[0]?.status === "FAILED") throw new Error(`run ${runId} failed: ${rows[0].error}`);
      return rows[0]?.status === status ? { output: rows[0].output } : null;
    },
    ms,
    `run ${runId} to be ${status}`,
  );
}

/** The tasks-stream sequence of `taskId`'s message (an attacker guesses it: sequences are small counters). */
async function streamSeqOf(env: SecurityEnv, taskId: string): Promise<number> {
  const jsm = await jetstreamManager(env.orch);
  const { first_seq, last_seq } = (await jsm.streams.info(env.topology.streams.tasks)).state;
  for (let seq = first_seq; seq <= last_seq; seq++) {
    const m = await jsm.streams.getMessage(env.topology.streams.tasks, { seq }).catch(() => null);
    if (m && m.json<{ taskId?: string }>().taskId === taskId) return seq;
  }
  throw new Error(`no message of task ${taskId} in the tasks stream`);
}

/** What the suite prepared and must clean up. */
export interface Prepared {
  ctx: AttackContext;
  runs: { peer: string; own: string; b: string; v2: string };
  releasePeer(): void;
  close(): Promise<void>;
}

/** Victims, the attacker's own lease, and the credential files the operations need. */
export async function prepare(env: SecurityEnv): Promise<Prepared> {
  const { topology, orch } = env;
  const queue = env.attacker.queue;
  const client = createJetflowClient(orch, { timeoutMs: 10_000 });
  const closers: (() => Promise<void>)[] = [];
  const atk = await env.attacker.connect();
  const peerNc = await env.peer.connect();

  // The peer: a real SDK worker holding its task until released.
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const transport = createNatsWorkerTransport(peerNc, { topology, queue, codeVersion: "v1" });
  const peerWorker = createActivityWorker({
    transport,
    queue,
    stageCodeVersion: "v1",
    workerId: env.peer.workerId,
    maxConcurrentTasks: 1,
    pollWaitMs: 500,
    heartbeatIntervalMs: 2_000,
    registry: {
      work: {
        ...work,
        async execute(ctx) {
          let bound: NodeJS.Timeout | undefined;
          await Promise.race([released, new Promise((r) => (bound = setTimeout(r, 120_000)))]);
          clearTimeout(bound);
          return { output: { r: ctx.input.n * 2, by: env.peer.workerId } };
        },
      },
    },
  });
  peerWorker.start();
  closers.push(async () => {
    release();
    await peerWorker.stop();
    await transport.close?.();
  });
  let peerStops: string[] = [];
  const bucket = workerRegistryBucket(topology.prefix);
  if (env.kind === "creds") {
    // The peer's fleet membership: its registry entry and its control subject (what it obeyed lands in `stops`).
    const member = await fakeFleetWorker(peerNc, topology, { workerId: env.peer.workerId, queue, codeVersion: "v1" });
    peerStops = member.stops;
    closers.push(() => member.leave());
  } else {
    await (await new Kvm(orch).open(bucket)).put(`${queue}.${env.peer.workerId}`, JSON.stringify({ id: env.peer.workerId }));
  }
  await (await new Kvm(orch).open(bucket)).put(`b.w3`, JSON.stringify({ id: "w3" }));
  await (await new Kvm(atk).open(bucket)).put(`${queue}.${env.attacker.workerId}`, JSON.stringify({ id: env.attacker.workerId }));

  const create = async (wf: string, n: number) =>
    (await client.createRun({ workflowId: wf, input: { n }, idempotencyKey: `${wf}-${n}` })).workflowRunId;
  const runs = { peer: await create(workflowOf(queue, "v1"), 1), own: "", b: await create(workflowOf("b", "v1"), 3), v2: "" };
  const peerTask = await taskOfRun(env, runs.peer, "LEASED");
  runs.v2 = await create(workflowOf(queue, "v2"), 4);
  const bTask = await taskOfRun(env, runs.b);
  const v2Task = await taskOfRun(env, runs.v2);

  // The attacker's own task, pulled and started exactly as the protocol says (docs/protocol.md).
  runs.own = await create(workflowOf(queue, "v1"), 2);
  const ownTask = await taskOfRun(env, runs.own);
  const next = `$JS.API.CONSUMER.MSG.NEXT.${topology.streams.tasks}.${taskConsumerName(queue, "v1")}`;
  const m = await atk.request(next, JSON.stringify({ batch: 1, expires: nanos(10_000) }), { timeout: 15_000, noMux: true });
  const task = TaskMessage.parse(m.json());
  assert.is(task.taskId, ownTask, "the attacker was delivered its own task");
  const attempt = Number(m.reply!.split(".")[4]);
  const started = (
    await atk.request(
      brokerSubject(topology, queue, "heartbeat"),
      JSON.stringify({
        start: true,
        taskId: ownTask,
        attempt,
        workerId: env.attacker.workerId,
        codeVersion: "v1",
        capability: task.capability,
      }),
      { timeout: 10_000 },
    )
  ).json<{ accepted: boolean; leaseToken: string }>();
  assert.ok(started.accepted, `the attacker's legitimate start: ${JSON.stringify(started)}`);

  const ctx: AttackContext = {
    env,
    atk,
    queue,
    other: "b",
    me: env.attacker.workerId,
    peerId: env.peer.workerId,
    victims: { peer: peerTask, b: bTask, v2: v2Task, peerRun: runs.peer, bRun: runs.b, peerSeq: await streamSeqOf(env, peerTask) },
    own: { taskId: ownTask, runId: runs.own, attempt, leaseToken: started.leaseToken, capability: task.capability!, ackSubject: m.reply! },
    counts: { reports: 0, junkTasks: 0, ownRegistryWrites: 0 },
    peerStops,
  };
  if (env.kind === "creds") {
    const { expired, revoked, spare } = env.issued!;
    await revokeWorkerCreds(env.credsDir!, revoked.name, { servers: env.nats.url });
    const jwt = /-----BEGIN NATS USER JWT-----\n(.+)\n/.exec(readFileSync(expired.file, "utf8"))![1]!;
    const expiresAt = JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()).exp as number;
    ctx.creds = { expired: expired.file, expiresAt, revoked: revoked.file, spare: spare.file };
  }
  await reportsSettled(ctx);
  return {
    ctx,
    runs,
    releasePeer: () => release(),
    async close() {
      for (const c of closers.reverse()) await c();
    },
  };
}

/** Tries every operation; returns each one's refusal or what went through. */
export async function attempt(ctx: AttackContext): Promise<{ name: string; kind: string; refused: boolean; how: string }[]> {
  const results = [];
  for (const op of forbiddenOperations.filter((o) => !o.only || o.only === ctx.env.kind)) {
    try {
      results.push({ name: op.name, kind: op.kind, refused: true, how: await op.run(ctx) });
    } catch (err) {
      const how = err instanceof WentThrough ? err.message : `ERROR (not a refusal): ${(err as Error).stack ?? String(err)}`;
      results.push({ name: op.name, kind: op.kind, refused: false, how });
    }
    if (ctx.atk.isClosed()) throw new Error(`the attacker's connection closed after "${op.name}"`);
  }
  return results;
}

/** The attacker finishes its own task as the protocol says: report (PubAck) then +ACK. */
export async function completeOwnTask(ctx: AttackContext): Promise<void> {
  const { own, env } = ctx;
  const report = {
    v: 1,
    taskId: own.taskId,
    attempt: own.attempt,
    leaseToken: own.leaseToken,
    workerId: ctx.me,
    codeVersion: "v1",
    outcome: "completed",
    output: { r: 4, by: ctx.me },
    logs: [],
    reportedAt: new Date().toISOString(),
  };
  await jetstream(ctx.atk).publish(env.topology.reportSubject(ctx.queue), JSON.stringify(report), {
    msgID: reportMsgId(own.taskId, own.attempt, own.leaseToken),
    timeout: 5_000,
  });
  await ctx.atk.request(own.ackSubject, "+ACK", { timeout: 5_000 });
}

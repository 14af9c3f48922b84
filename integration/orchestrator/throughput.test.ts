// 1,000 runs submitted concurrently over the NATS API to two orchestrator processes: every run
// completes, and every outbox row is published exactly once, counted from the events stream.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import postgres from "postgres";
import { services } from "../harness/index.js";
import { createJetflowClient } from "../../adapters/jetstream/api/client.js";
import { createTopology } from "../../src/contract/topology.js";
import { parseEvent } from "../../src/contract/event-message.js";
import { deployment, startOrchestratorProcess } from "./support.js";
import type { OrchestratorProcess } from "./support.js";

const RUNS = 1000;
const svc = await services(["nats", "postgres"]);
const t = svc ? test : test.skip;
const procs: OrchestratorProcess[] = [];
let nc: NatsConnection;

test.after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await nc?.close();
  await svc?.stop();
});

t(`${RUNS} runs submitted concurrently all complete; each outbox event is in the stream exactly once`, async () => {
  const d = deployment({ natsUrl: svc!.nats.url, databaseUrl: svc!.postgres.url, leaseMs: 5000, maxConcurrentJobs: 8 });
  procs.push(await startOrchestratorProcess(d));
  procs.push(await startOrchestratorProcess(d));
  nc = await connect({ servers: svc!.nats.url });
  const topology = createTopology();

  // Count completions from live events (subscribed before submitting, so none is missed).
  const completed = new Set<string>();
  const sub = nc.subscribe(`${topology.prefix}.events.*.*.workflow_completed`);
  const allDone = (async () => {
    for await (const m of sub) {
      const parsed = parseEvent(m.data);
      if (parsed.ok) completed.add(parsed.value.workflowRunId);
      if (completed.size === RUNS) return;
    }
  })();

  const client = createJetflowClient(nc, { timeoutMs: 60_000 });
  const retried: string[] = [];
  const created = await Promise.all(
    Array.from({ length: RUNS }, (_, i) =>
      client.createRun({ workflowId: "greet-shout", input: { name: `n${i}` }, idempotencyKey: `bulk-${i}` }).catch((e: Error) => {
        // Known open defect: under 1,000 concurrent creates postgres.js 3.4.9 rarely fails a
        // transaction's BEGIN with UNSAFE_TRANSACTION (a 500). The create is idempotent, so
        // retry it once and say so; a second failure fails the test with the logged cause.
        if (!/correlation id/.test(e.message)) throw e;
        retried.push(e.message);
        return client.createRun({ workflowId: "greet-shout", input: { name: `n${i}` }, idempotencyKey: `bulk-${i}` });
      }),
    ),
  ).catch((e: Error) => {
    // A 500 names a correlation id the answering orchestrator logged with the full error: show it.
    const id = /correlation id ([\w-]+)/.exec(e.message)?.[1];
    const logged = procs.flatMap((p) => p.log().split("\n")).filter((l) => id && l.includes(id));
    throw new Error(`${e.message}\n${logged.join("\n")}`);
  });
  assert.is(new Set(created.map((c) => c.workflowRunId)).size, RUNS);
  if (retried.length) console.warn(`${retried.length} runs.create answered 500 and were retried: ${retried[0]}`);

  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    allDone,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${completed.size}/${RUNS} runs completed in 150 s`)), 150_000);
    }),
  ]);
  clearTimeout(timer);
  sub.unsubscribe();

  const stats = await client.stats();
  assert.is(stats.runs.COMPLETED, RUNS);
  assert.is(stats.runs.RUNNING + stats.runs.PENDING + stats.runs.FAILED, 0);

  // Every outbox row of kind "event" is published, and the stream holds each exactly once.
  const sql = postgres(svc!.postgres.url, { max: 1, onnotice: () => {} });
  try {
    await waitForOutboxDrained(sql);
    const outboxEvents = (await sql<{ n: number }[]>`select count(*)::int as n from jetflow.outbox where kind = 'event'`)[0]!.n;
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(topology.streams.events);
    assert.is(info.state.messages, outboxEvents, "one stream message per outbox event");
    const ids = await collectEventIds(nc, topology.streams.events, outboxEvents);
    assert.is(ids.size, outboxEvents, "no event id appears twice");
    const outboxIds = (
      await sql<{ n: number }[]>`select count(*)::int as n from jetflow.outbox where kind = 'event' and id = any(${[...ids]})`
    )[0]!.n;
    assert.is(outboxIds, outboxEvents, "every stream message is an outbox row");
  } finally {
    await sql.end();
  }
});

async function waitForOutboxDrained(sql: postgres.Sql): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const n = (await sql<{ n: number }[]>`select count(*)::int as n from jetflow.outbox where published_at is null`)[0]!.n;
    if (n === 0) return;
    if (Date.now() > deadline) throw new Error(`${n} outbox rows still unpublished after 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Reads the whole events stream with an ordered consumer and returns the distinct event ids. */
async function collectEventIds(nc: NatsConnection, stream: string, expected: number): Promise<Set<string>> {
  const { jetstream } = await import("@nats-io/jetstream");
  const consumer = await jetstream(nc).consumers.get(stream);
  const ids = new Set<string>();
  let seen = 0;
  const messages = await consumer.consume();
  const timer = setTimeout(() => messages.stop(), 30_000);
  for await (const m of messages) {
    seen++;
    const parsed = parseEvent(m.data);
    if (parsed.ok) ids.add(parsed.value.id);
    if (seen >= expected) break;
  }
  clearTimeout(timer);
  assert.is(seen, expected, "read every stream message");
  return ids;
}

test.run();

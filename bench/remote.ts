/**
 * Remote activities/s end to end — broker.submit (Postgres insert + JetStream publish) → worker
 * pull + start heartbeat → stage → durable report → report consumer → Postgres commit of the
 * outcome — with 1, 4 and 16 workers, beside a raw JetStream loop doing the same message flow
 * with the client library alone (publish task with a Nats-Msg-Id → worker next() → publish
 * report → ackAck task → collector next() → ackAck report), with the same workers and
 * submitters, on the same servers in the same run. Also prints p50/p99 dispatch latency
 * (submit called → stage body starts), under that load, at a steady 80% of the 4 x 4 peak
 * (submitted open loop), and with one task in flight.
 * Both sides are warmed up, then each row runs `rounds` alternating pairs (which side goes first
 * flips every pair) and reports the pair medians; every stream is on file storage.
 *
 *   npx tsx bench/remote.ts [tasks=500] [submitters=16] [rounds=1]
 *
 * Servers come from the integration harness (env URLs, else local processes; Postgres never an
 * fsync=off container, see bench/support/servers.ts); all stopped at the end.
 */
import { AckPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { ensureTopology } from "../adapters/jetstream/topology.js";
import { useNats } from "../integration/harness/index.js";
import { freshTopology } from "../integration/jetstream/helpers.js";
import { postgresTaskStore, startOrchestrator } from "../integration/remote/helpers.js";
import { createActivityWorker, type ActivityWorker } from "../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../worker-sdk/nats-transport.js";
import { connectNats } from "../worker-sdk/connect.js";
import { spec, stage } from "../test/remote/helpers/fixture.js";
import { assertFileStorage, benchPostgres, natsSettings, NATS_CLIENT } from "./support/servers.js";
import { load } from "./support/stats.js";
import { setTimeout as sleep } from "node:timers/promises";

const N = Number(process.argv[2] ?? 500);
const SUBMITTERS = Number(process.argv[3] ?? 16);
const ROUNDS = Number(process.argv[4] ?? 1);
/** [worker processes, maxConcurrentTasks each]: 16 tasks in flight either way. */
const WORKERS: [number, number][] = [
  [1, 16],
  [4, 4],
  [16, 1],
];
const QUEUE = "bench";
const VERSION = "v1";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Runs `fn(i)` for i in [0, n) on `width` concurrent lanes. */
async function lanes(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < n; i = next++) await fn(i);
    }),
  );
}

/**
 * Submits `n` tasks: on `width` closed-loop lanes, or open loop at `rate` per second when given
 * (task i is submitted at t0 + i / rate whatever the earlier ones are doing), as a steady load
 * below the peak arrives in production.
 */
async function submitAll(n: number, width: number, rate: number | undefined, fn: (i: number) => Promise<void>): Promise<void> {
  if (rate === undefined) return lanes(n, width, fn);
  const t0 = performance.now();
  const all: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    all.push(fn(i));
  }
  await Promise.all(all);
}

/** Nearest-rank percentile of an ascending array. */
function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Resolves when `n` outcomes were counted, or rejects after `ms` (a bench must not hang). */
function countdown(n: number, ms: number, what: string): { tick(): void; done: Promise<void> } {
  let left = n;
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  const timer = setTimeout(() => reject(new Error(`${what}: ${left} of ${n} missing after ${ms} ms`)), ms);
  return {
    tick() {
      if (--left === 0) {
        clearTimeout(timer);
        resolve();
      }
    },
    done,
  };
}

interface Measured {
  ms: number;
  latencies: number[];
}

/** The jetflow path: broker on Postgres, JetStream dispatcher/responders/report consumer, SDK workers. */
async function remoteRun(
  natsUrl: string,
  pgUrl: string,
  workers: number,
  n: number,
  width: number,
  oneInFlight = false,
  perWorker = 1,
  rate?: number,
): Promise<Measured> {
  const pg = await postgresTaskStore(pgUrl);
  const topology = freshTopology();
  // The helper would create memory streams; the raw loop gets file streams, so must this side.
  const setupNc = await connect({ servers: natsUrl, ...NATS_CLIENT });
  try {
    await ensureTopology(await jetstreamManager(setupNc), { topology, storage: "file" });
    await assertFileStorage(setupNc, [topology.streams.tasks, topology.streams.reports]);
  } finally {
    await setupNc.close();
  }
  const orch = await startOrchestrator({
    url: natsUrl,
    topology,
    queue: QUEUE,
    codeVersion: VERSION,
    leaseMs: 30_000,
    taskStore: pg.store,
  });
  const submittedAt = new Map<string, number>();
  const latencies: number[] = [];
  const body = stage("heavy", async (ctx) => {
    const t = submittedAt.get(`${ctx.workflowRunId}.heavy.1`);
    if (t !== undefined) latencies.push(performance.now() - t);
    return { output: { r: ctx.input.n } };
  });
  const running: { w: ActivityWorker; nc: NatsConnection; close?: () => Promise<void> }[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      const nc = await connectNats({ servers: natsUrl, name: `bench-worker-${i}` }); // as `jetflow worker` connects
      const transport = createNatsWorkerTransport(nc, { topology, queue: QUEUE, codeVersion: VERSION });
      const w = createActivityWorker({
        transport,
        queue: QUEUE,
        stageCodeVersion: VERSION,
        workerId: `w${i}`,
        registry: { heavy: body },
        pollWaitMs: 1_000,
        maxConcurrentTasks: perWorker,
      });
      w.start();
      running.push({ w, nc, ...(transport.close ? { close: transport.close } : {}) });
    }
    const finished = countdown(n, 120_000, `remote with ${workers} workers`);
    const off = orch.broker.onOutcome(() => finished.tick());
    const t0 = performance.now();
    await submitAll(n, width, rate, async (i) => {
      const runId = `r${i}`;
      submittedAt.set(`${runId}.heavy.1`, performance.now());
      const id = await orch.broker.submit(spec({ workflowRunId: runId, queue: QUEUE, codeVersion: VERSION, input: { n: i } }));
      if (oneInFlight) await orch.broker.waitForOutcome(id, { timeoutMs: 10_000 });
    });
    await finished.done;
    const ms = performance.now() - t0;
    off();
    const [row] = await pg.sql`select count(*)::int as count from ${pg.sql(pg.schema)}.activity_tasks where status = 'COMPLETED'`;
    const count = row?.count as number | undefined;
    if (count !== n) throw new Error(`expected ${n} completed tasks in Postgres, found ${count}`);
    return { ms, latencies: latencies.sort((a, b) => a - b) };
  } finally {
    for (const r of running) await r.w.stop();
    for (const r of running) {
      await r.close?.();
      await r.nc.close();
    }
    await orch.close();
    await pg.close();
  }
}

/** The raw JetStream loop with the same workers and submitters, no broker and no Postgres. */
async function rawRun(
  nc: NatsConnection,
  natsUrl: string,
  workers: number,
  n: number,
  width: number,
  oneInFlight = false,
  rate?: number,
): Promise<Measured> {
  const tag = Math.random().toString(36).slice(2, 10);
  const jsm = await jetstreamManager(nc);
  const tasks = `RAWT_${tag}`.toUpperCase();
  const reports = `RAWR_${tag}`.toUpperCase();
  await jsm.streams.add({ name: tasks, subjects: [`raw${tag}.tasks`], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  await jsm.streams.add({
    name: reports,
    subjects: [`raw${tag}.reports`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
  });
  for (const s of [tasks, reports])
    await jsm.consumers.add(s, { durable_name: "c", ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_deliver: 5 });
  const js = jetstream(nc);
  const submittedAt = new Map<string, number>();
  const latencies: number[] = [];
  /** Submitters waiting for their task's report (oneInFlight). */
  const waiting = new Map<string, () => void>();
  const stop = new AbortController();
  const conns: NatsConnection[] = [];
  const loops: Promise<void>[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      const wnc = await connect({ servers: natsUrl, ...NATS_CLIENT });
      conns.push(wnc);
      const wjs = jetstream(wnc);
      const c = await wjs.consumers.get(tasks, "c");
      loops.push(
        (async () => {
          while (!stop.signal.aborted) {
            const m = await c.next({ expires: 1_000 });
            if (!m) continue;
            const task = JSON.parse(dec.decode(m.data)) as { taskId: string; n: number };
            const t = submittedAt.get(task.taskId);
            if (t !== undefined) latencies.push(performance.now() - t);
            await wjs.publish(
              `raw${tag}.reports`,
              enc.encode(JSON.stringify({ taskId: task.taskId, outcome: "completed", output: { r: task.n } })),
              { msgID: `${task.taskId}:1` },
            );
            await m.ackAck();
          }
        })(),
      );
    }
    const finished = countdown(n, 120_000, `raw with ${workers} workers`);
    const rc = await js.consumers.get(reports, "c");
    loops.push(
      (async () => {
        while (!stop.signal.aborted) {
          const m = await rc.next({ expires: 1_000 });
          if (!m) continue;
          const report = JSON.parse(dec.decode(m.data)) as { taskId: string };
          await m.ackAck();
          finished.tick();
          waiting.get(report.taskId)?.();
        }
      })(),
    );
    const t0 = performance.now();
    await submitAll(n, width, rate, async (i) => {
      const taskId = `r${i}.heavy.1`;
      const reported = oneInFlight ? new Promise<void>((r) => waiting.set(taskId, r)) : null;
      submittedAt.set(taskId, performance.now());
      await js.publish(`raw${tag}.tasks`, enc.encode(JSON.stringify({ taskId, n: i })), { msgID: taskId });
      if (reported) await reported; // bounded by the run's countdown
    });
    await finished.done;
    const ms = performance.now() - t0;
    return { ms, latencies: latencies.sort((a, b) => a - b) };
  } finally {
    stop.abort();
    await Promise.all(loops);
    for (const c of conns) await c.close();
    await jsm.streams.delete(tasks);
    await jsm.streams.delete(reports);
  }
}

/** `rounds` pairs of (raw, remote), the first side alternating, and the pair whose remote time is the median. */
async function pairs(raw: () => Promise<Measured>, remote: () => Promise<Measured>): Promise<{ raw: Measured; remote: Measured }> {
  const got: { raw: Measured; remote: Measured }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      const a = await raw();
      got.push({ raw: a, remote: await remote() });
    } else {
      const b = await remote();
      got.push({ raw: await raw(), remote: b });
    }
  }
  const byRemote = [...got].sort((x, y) => x.remote.ms - y.remote.ms);
  const byRaw = [...got].sort((x, y) => x.raw.ms - y.raw.ms);
  const mid = Math.floor((got.length - 1) / 2);
  return { raw: byRaw[mid]!.raw, remote: byRemote[mid]!.remote };
}

async function main(): Promise<void> {
  const nats = await useNats();
  const pgsvc = await benchPostgres();
  const nc = await connect({ servers: nats.url, ...NATS_CLIENT });
  try {
    const rate = (m: Measured, n: number): number => Math.round((n / m.ms) * 1000);
    const lat = (m: Measured): string => `p50 ${pct(m.latencies, 50).toFixed(1)} ms, p99 ${pct(m.latencies, 99).toFixed(1)} ms`;
    console.log(`${natsSettings(nc)}; ${pgsvc.settings}; ${load()}`);
    console.log(
      `nats ${nats.source} ${nc.info?.version ?? ""}, postgres ${pgsvc.source}; ${N} tasks per row, ${SUBMITTERS} concurrent submitters, trivial stage body; median of ${ROUNDS} alternating round(s) per row`,
    );
    let peak4x4 = 0;
    // Warm-up of both sides (JIT, connection pools) on every shape measured, not reported.
    const warm = Math.min(100, N);
    for (const [w, per] of WORKERS) {
      await rawRun(nc, nats.url, w * per, warm, SUBMITTERS);
      await remoteRun(nats.url, pgsvc.url, w, warm, SUBMITTERS, false, per);
    }
    for (const [w, per] of WORKERS) {
      // The raw loop holds one message per connection, so it runs w x per connections.
      const { raw, remote } = await pairs(
        () => rawRun(nc, nats.url, w * per, N, SUBMITTERS),
        () => remoteRun(nats.url, pgsvc.url, w, N, SUBMITTERS, false, per),
      );
      console.log(
        `${String(w).padStart(2)} workers x ${String(per).padStart(2)}: remote ${rate(remote, N)} tasks/s (${remote.ms.toFixed(0)} ms), raw JetStream ${rate(raw, N)} msgs/s (${raw.ms.toFixed(0)} ms), ratio remote/raw ${(raw.ms / remote.ms).toFixed(2)}`,
      );
      console.log(`   dispatch latency under load: remote ${lat(remote)}; raw ${lat(raw)}`);
      if (w === 4) peak4x4 = rate(remote, N);
    }
    // A steady load at 80% of the 4 x 4 peak just measured, submitted open loop: what dispatch
    // latency a system running below saturation sees (at the peak, tasks queue behind each other).
    const steady = Math.max(1, Math.round(0.8 * peak4x4));
    const { raw: steadyRaw, remote: steadyRemote } = await pairs(
      () => rawRun(nc, nats.url, 16, N, SUBMITTERS, false, steady),
      () => remoteRun(nats.url, pgsvc.url, 4, N, SUBMITTERS, false, 4, steady),
    );
    console.log(
      `steady load, 4 workers x 4, ${steady} tasks/s submitted open loop (80% of the 4 x 4 peak): dispatch latency remote ${lat(steadyRemote)}; raw ${lat(steadyRaw)}`,
    );
    // One task in flight at a time: the dispatch path itself, without queueing behind other tasks.
    const idleN = Math.min(200, N);
    const { raw: idleRaw, remote: idle } = await pairs(
      () => rawRun(nc, nats.url, 4, idleN, 1, true),
      () => remoteRun(nats.url, pgsvc.url, 4, idleN, 1, true),
    );
    console.log(
      `idle (1 submitter, 4 workers, ${idleN} tasks): remote ${lat(idle)} (${rate(idle, idleN)} tasks/s); raw ${lat(idleRaw)} (${rate(idleRaw, idleN)} msgs/s); ratio remote/raw ${(idleRaw.ms / idle.ms).toFixed(2)}`,
    );
    console.log(`end ${load()}`);
  } finally {
    await nc.close();
    await pgsvc.stop();
    await nats.stop();
  }
}

await main();

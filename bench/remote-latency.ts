/**
 * Idle latency of a one-remote-stage workflow through the whole orchestrator path, one run at a
 * time: `run.create` → node host claims the run → kernel job over the JetStream job transport →
 * remote stage wrapper submits the task (Postgres + JetStream) and suspends → SDK worker runs
 * the stage body → durable report → report consumer commits the outcome → the outcome wakes the
 * suspended stage → run COMPLETED (its `workflow:completed` event). Prints p50/p99 of
 * submit → stage body starts (dispatch) and submit → run COMPLETED, with the legs in between,
 * beside two baselines measured in the same run on the same servers: one durable Postgres commit
 * (autocommit insert on its own connection) and one raw JetStream hop (publish → pull → ack).
 * Host and remote-stage settings are the orchestrator's defaults (orchestration tick 1 s, job
 * poll 1 s, remote stage poll 5 s): nothing is tuned down to hide a wait.
 *
 *   npx tsx bench/remote-latency.ts [runs=100] [warmup=10]
 *
 * With JETFLOW_BENCH_TIMELINE=1 it also prints the timeline of the middle run: every statement
 * sent to Postgres and every NATS publish/request of the kernel, the broker and the worker
 * (bench/support/timeline.ts); the hooks add a little to that run's times.
 *
 * Servers come from the integration harness (Postgres with fsync and synchronous_commit on, see
 * bench/support/servers.ts); JetStream streams on file storage; everything stopped at the end.
 */
import { AckPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import postgres from "postgres";
import { z } from "zod";
import { createJetStreamJobTransport } from "../adapters/jetstream/job-transport.js";
import { ensureTopology } from "../adapters/jetstream/topology.js";
import { createPostgresPersistence, migrate } from "../adapters/postgres/index.js";
import { useNats } from "../integration/harness/index.js";
import { freshTopology } from "../integration/jetstream/helpers.js";
import { postgresTaskStore, startOrchestrator } from "../integration/remote/helpers.js";
import { createKernel, createNodeHost, defineRemoteStage, systemClock, WorkflowBuilder, type RunStarter } from "../src/index.js";
import type { WorkflowEvent } from "../src/ports/event-sink.js";
import { wakeSuspendedStages } from "../src/remote/wake-on-outcome.js";
import { InMemoryBlobStore, NoopScheduler } from "../src/testing/index.js";
import { stage } from "../test/remote/helpers/fixture.js";
import { createActivityWorker } from "../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../worker-sdk/nats-transport.js";
import { assertFileStorage, benchPostgres, natsSettings, NATS_CLIENT } from "./support/servers.js";
import { load } from "./support/stats.js";
import { Timeline } from "./support/timeline.js";

const RUNS = Number(process.argv[2] ?? 100);
const WARMUP = Number(process.argv[3] ?? 10);
const QUEUE = "bench";
const TIMELINE = process.env.JETFLOW_BENCH_TIMELINE === "1";
const timeline = new Timeline();
const VERSION = "v1";

/** Nearest-rank percentile of an ascending array. */
function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const fmt = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${pct(s, 50).toFixed(1).padStart(6)} ms   p99 ${pct(s, 99).toFixed(1).padStart(6)} ms`;
};

/** Resolves the promise registered for `key` (or remembers that it already happened). */
class Signals {
  private readonly waiting = new Map<string, (t: number) => void>();
  private readonly seen = new Map<string, number>();
  fire(key: string, t = performance.now()): void {
    timeline.mark("bench", key);
    const w = this.waiting.get(key);
    if (w) {
      this.waiting.delete(key);
      w(t);
    } else this.seen.set(key, t);
  }
  wait(key: string, ms: number): Promise<number> {
    const t = this.seen.get(key);
    if (t !== undefined) {
      this.seen.delete(key);
      return Promise.resolve(t);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bench: no ${key} within ${ms} ms`)), ms);
      this.waiting.set(key, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }
}

/** Durable commits, one after another on one connection: the floor of every Postgres write on the path. */
async function commitBaseline(url: string, n: number): Promise<number[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`create table if not exists bench_commit_probe (id serial primary key, v int)`;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await sql`insert into bench_commit_probe (v) values (${i})`;
      out.push(performance.now() - t);
    }
    return out;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** One JetStream hop, idle: publish (PubAck) → a waiting pull receives it → ackAck. File storage. */
async function jetstreamBaseline(nc: NatsConnection, n: number): Promise<number[]> {
  const tag = Math.random().toString(36).slice(2, 10);
  const stream = `RAWLAT_${tag}`.toUpperCase();
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`rawlat${tag}`], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  await jsm.consumers.add(stream, { durable_name: "c", ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000) });
  try {
    const js = jetstream(nc);
    const c = await js.consumers.get(stream, "c");
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const got = c.next({ expires: 5_000 });
      const t = performance.now();
      await js.publish(`rawlat${tag}`, new Uint8Array(200));
      const m = await got;
      if (!m) throw new Error("bench: raw JetStream message not delivered");
      out.push(performance.now() - t);
      await m.ackAck();
    }
    return out;
  } finally {
    await jsm.streams.delete(stream);
  }
}

async function main(): Promise<void> {
  const pg = await benchPostgres();
  const nats = await useNats();
  const setupNc = await connect({ servers: nats.url, ...NATS_CLIENT });
  const tasks = await postgresTaskStore(pg.url);
  const topology = freshTopology();
  const stops: (() => Promise<void>)[] = [];
  try {
    await ensureTopology(await jetstreamManager(setupNc), { topology, storage: "file", jobAckWaitMs: 30_000 });
    await assertFileStorage(setupNc, [topology.streams.tasks, topology.streams.reports]);
    // The broker side: task store in Postgres, dispatcher, responders, report consumer.
    const orch = await startOrchestrator({
      url: nats.url,
      topology,
      queue: QUEUE,
      codeVersion: VERSION,
      leaseMs: 30_000,
      taskStore: tasks.store,
    });
    stops.push(() => orch.close());

    if (TIMELINE) {
      // postgres.js reads `debug` from its options on every query.
      (tasks.sql.options as { debug: unknown }).debug = timeline.pgDebug("broker-pg");
      timeline.wrapNats(orch.nc, "broker-nats");
    }
    const signals = new Signals();
    // What the orchestrator's side of the stage looks like; the worker runs the real body.
    const onOrchestrator = stage("heavy", async () => {
      throw new Error("bench: the remote stage ran locally");
    });
    const client = new Proxy(orch.broker, {
      get(target, prop, receiver) {
        if (prop !== "submit") return Reflect.get(target, prop, receiver);
        return async (spec: Parameters<typeof target.submit>[0]) => {
          signals.fire(`submit:${spec.workflowRunId}`);
          return target.submit(spec);
        };
      },
    });
    const workflow = new WorkflowBuilder("lat", "Latency", "one remote stage", z.object({ n: z.number() }), z.object({ r: z.number() }))
      .pipe(defineRemoteStage(onOrchestrator, client, { queue: QUEUE, stageCodeVersion: VERSION }))
      .build();

    const sql = postgres(pg.url, { max: 10, onnotice: () => {}, ...(TIMELINE ? { debug: timeline.pgDebug("kernel-pg") } : {}) });
    stops.push(async () => void (await sql.end({ timeout: 5 })));
    await migrate(sql, { schema: "jetflow" });
    const kernelNc = await connect({ servers: nats.url, ...NATS_CLIENT });
    stops.push(() => kernelNc.close());
    if (TIMELINE) timeline.wrapNats(kernelNc, "kernel-nats");
    const jobTransport = await createJetStreamJobTransport(kernelNc, { topology, leaseMs: 30_000, maxDeliveries: 5, ensure: false });
    stops.push(() => jobTransport.close());
    const sink = {
      async publish(e: WorkflowEvent): Promise<void> {
        if (e.type === "workflow:completed") signals.fire(`completed:${e.workflowRunId}`);
        if (e.type === "workflow:failed") signals.fire(`completed:${e.workflowRunId}`);
      },
    };
    let claimSoon = (): void => {};
    let starter = (): RunStarter | null => null;
    const kernel = createKernel({
      persistence: createPostgresPersistence(sql, { schema: "jetflow" }),
      // As orchestrator/start.ts wires it (JETFLOW_BENCH_NO_NUDGE=1 measures without).
      onRunCreated: () => claimSoon(),
      startOnCreate: () => starter(),
      blobStore: new InMemoryBlobStore(),
      jobTransport,
      eventSink: sink,
      scheduler: new NoopScheduler(),
      clock: systemClock,
      registry: { getWorkflow: (id) => (id === workflow.id ? workflow : undefined) },
    });
    const unwake = wakeSuspendedStages(orch.broker, kernel);
    stops.push(async () => unwake());
    orch.broker.onOutcome((_taskId, ref) => {
      if (ref) signals.fire(`outcome:${ref.workflowRunId}`);
    });
    // The orchestrator's defaults (orchestrator/config.ts): tick 1 s, job poll 1 s, 4 job lanes.
    const host = createNodeHost({
      kernel,
      jobTransport,
      workerId: "bench-orchestrator",
      handleSignals: false,
      orchestrationIntervalMs: 1_000,
      jobPollIntervalMs: 1_000,
      maxConcurrentJobs: 4,
      heartbeatIntervalMs: 10_000,
    });
    await host.start();
    if (!process.env.JETFLOW_BENCH_NO_NUDGE) {
      claimSoon = () => host.claimSoon();
      starter = () => host.starter();
    }
    stops.push(() => host.stop());

    const workerNc = await connect({ servers: nats.url, ...NATS_CLIENT });
    stops.push(() => workerNc.close());
    if (TIMELINE) timeline.wrapNats(workerNc, "worker-nats");
    const transport = createNatsWorkerTransport(workerNc, { topology, queue: QUEUE, codeVersion: VERSION });
    const worker = createActivityWorker({
      transport,
      queue: QUEUE,
      stageCodeVersion: VERSION,
      workerId: "bench-worker",
      registry: {
        heavy: stage("heavy", async (ctx) => {
          signals.fire(`body:${ctx.workflowRunId}`);
          return { output: { r: ctx.input.n } };
        }),
      },
      maxConcurrentTasks: 4,
    });
    worker.start();
    stops.push(async () => {
      await worker.stop();
      await transport.close?.();
    });

    const legs = { claimToSubmit: [] as number[], dispatch: [] as number[], bodyToOutcome: [] as number[], outcomeToDone: [] as number[] };
    const total: number[] = [];
    const dispatch: number[] = [];
    const traced = WARMUP + Math.floor(RUNS / 2);
    for (let i = 0; i < WARMUP + RUNS; i++) {
      if (TIMELINE && i === traced) timeline.start();
      const t0 = performance.now();
      const { workflowRunId: id } = await kernel.dispatch({
        type: "run.create",
        idempotencyKey: `lat-${i}`,
        workflowId: "lat",
        input: { n: i },
      });
      const [submit, body, outcome, done] = await Promise.all(
        ["submit", "body", "outcome", "completed"].map((k) => signals.wait(`${k}:${id}`, 30_000)),
      );
      if (i === traced) timeline.stop();
      if (i < WARMUP) continue;
      total.push(done! - t0);
      dispatch.push(body! - t0);
      legs.claimToSubmit.push(submit! - t0);
      legs.dispatch.push(body! - submit!);
      legs.bodyToOutcome.push(outcome! - body!);
      legs.outcomeToDone.push(done! - outcome!);
    }
    const status = await kernel.runs.countByStatus!();
    if (status.COMPLETED !== WARMUP + RUNS) throw new Error(`bench: ${status.COMPLETED} of ${WARMUP + RUNS} runs completed`);

    const commits = await commitBaseline(pg.url, 100);
    const hops = await jetstreamBaseline(setupNc, 100);
    const p50 = (xs: number[]) =>
      pct(
        [...xs].sort((a, b) => a - b),
        50,
      );
    console.log(`remote latency bench: ${RUNS} one-remote-stage runs one at a time (after ${WARMUP} warm-up), idle`);
    console.log(`  ${pg.settings}; ${natsSettings(setupNc)}; ${load()}`);
    console.log(`  host: orchestration tick 1 s, job poll 1 s; remote stage poll 5 s (defaults)`);
    console.log(`  submit → stage body starts       : ${fmt(dispatch)}`);
    console.log(`  submit → run COMPLETED           : ${fmt(total)}`);
    console.log(`    run.create → task submitted    : ${fmt(legs.claimToSubmit)}`);
    console.log(`    task submitted → body starts   : ${fmt(legs.dispatch)}`);
    console.log(`    body starts → outcome committed: ${fmt(legs.bodyToOutcome)}`);
    console.log(`    outcome → run COMPLETED        : ${fmt(legs.outcomeToDone)}`);
    console.log(`  baseline: one durable commit     : ${fmt(commits)}`);
    console.log(`  baseline: one JetStream hop      : ${fmt(hops)}`);
    if (TIMELINE) timeline.print(`run ${traced - WARMUP + 1} of ${RUNS}`);
    console.log(
      `  ratio submit→COMPLETED p50 / commit p50: ${(p50(total) / p50(commits)).toFixed(1)}; / JetStream hop p50: ${(p50(total) / p50(hops)).toFixed(1)}`,
    );
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error("bench cleanup:", err));
    await setupNc.close();
    await tasks.close();
    await nats.stop();
    await pg.stop();
  }
}

await main();

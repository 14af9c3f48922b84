/**
 * What one remote activity costs, counted rather than timed, so the numbers hold on a busy
 * machine: Postgres statements and commits, NATS messages sent and received on the orchestrator's
 * and the workers' connections, and this process's CPU, per activity; beside the same counts for
 * a raw JetStream loop (publish task → pull → publish report → ack → pull report → ack) in the
 * same run. N tasks, 4 workers x 4 in flight, trivial stage body, no heartbeat due.
 *
 *   npx tsx bench/remote-cost.ts [tasks=400]
 */
import { AckPolicy, RetentionPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NATS_CLIENT } from "./support/servers.js";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import postgres from "postgres";
import { useNats, usePostgres } from "../integration/harness/index.js";
import { freshTopology } from "../integration/jetstream/helpers.js";
import { migratedSchema } from "../integration/postgres/helpers.js";
import { startOrchestrator } from "../integration/remote/helpers.js";
import { createPostgresActivityTaskStore } from "../adapters/postgres/activity-task-store.js";
import { createActivityWorker } from "../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../worker-sdk/nats-transport.js";
import { spec, stage } from "../test/remote/helpers/fixture.js";

const N = Number(process.argv[2] ?? 400);
const WORKERS = 4;
const PER_WORKER = 4;

const msgs = (ncs: NatsConnection[]): number => ncs.reduce((a, nc) => a + nc.stats().inMsgs + nc.stats().outMsgs, 0);
const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;

/** Resolves when `cond()` holds, polling; rejects after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function commits(admin: postgres.Sql): Promise<number> {
  const [r] = await admin`select xact_commit::int as n from pg_stat_database where datname = current_database()`;
  return r!.n as number;
}

async function remote(natsUrl: string, pgUrl: string, admin: postgres.Sql): Promise<Record<string, number>> {
  let statements = 0;
  const sql = postgres(pgUrl, { max: 10, onnotice: () => {}, debug: () => statements++ });
  const { schema, drop } = await migratedSchema(sql);
  const store = createPostgresActivityTaskStore(sql, { schema });
  const topology = freshTopology();
  const orch = await startOrchestrator({ url: natsUrl, topology, queue: "cost", codeVersion: "v1", leaseMs: 30_000, taskStore: store });
  const workerConns: NatsConnection[] = [];
  const workers = [];
  let done = 0;
  const off = orch.broker.onOutcome(() => done++);
  const body = stage("heavy", async (ctx) => ({ output: { r: ctx.input.n } }));
  for (let i = 0; i < WORKERS; i++) {
    const nc = await connect({ servers: natsUrl, ...NATS_CLIENT });
    workerConns.push(nc);
    const transport = createNatsWorkerTransport(nc, { topology, queue: "cost", codeVersion: "v1" });
    const w = createActivityWorker({
      transport,
      queue: "cost",
      stageCodeVersion: "v1",
      workerId: `w${i}`,
      registry: { heavy: body },
      pollWaitMs: 1_000,
      maxConcurrentTasks: PER_WORKER,
    });
    w.start();
    workers.push({ w, transport });
  }
  await new Promise((r) => setTimeout(r, 300)); // let the idle pulls settle before counting
  const c0 = await commits(admin);
  const s0 = statements;
  const o0 = msgs([orch.nc]);
  const w0 = msgs(workerConns);
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: 16 }, async (_, lane) => {
      for (let i = lane; i < N; i += 16)
        await orch.broker.submit(spec({ workflowRunId: `r${i}`, queue: "cost", codeVersion: "v1", input: { n: i } }));
    }),
  );
  await until(() => done >= N, 120_000, `${N} outcomes`);
  const cpu = cpuMs(process.cpuUsage(cpu0));
  const s1 = statements;
  const o1 = msgs([orch.nc]);
  const w1 = msgs(workerConns);
  off();
  for (const { w, transport } of workers) {
    await w.stop();
    await transport.close?.();
  }
  for (const nc of workerConns) await nc.close();
  await orch.close();
  await drop();
  await sql.end({ timeout: 5 });
  // Backends flush their statistics when they end; wait (bounded) for the counts to settle.
  let c1 = await commits(admin);
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const c = await commits(admin);
    if (c === c1) break;
    c1 = c;
  }
  return {
    "pg statements": (s1 - s0) / N,
    "pg commits": (c1 - c0 - 4) / N, // minus this function's own reads and the schema drop
    "nats msgs, orchestrator": (o1 - o0) / N,
    "nats msgs, workers": (w1 - w0) / N,
    "cpu ms, this process": cpu / N,
  };
}

async function raw(natsUrl: string, nc: NatsConnection): Promise<Record<string, number>> {
  const tag = Math.random().toString(36).slice(2, 10).toUpperCase();
  const jsm = await jetstreamManager(nc);
  for (const s of ["T", "R"]) {
    await jsm.streams.add({ name: `RAW${s}_${tag}`, subjects: [`raw${tag}.${s}`], retention: RetentionPolicy.Workqueue });
    await jsm.consumers.add(`RAW${s}_${tag}`, { durable_name: "c", ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000) });
  }
  const wnc = await connect({ servers: natsUrl, ...NATS_CLIENT });
  const js = jetstream(nc);
  const wjs = jetstream(wnc);
  const stop = new AbortController();
  let done = 0;
  const tc = await wjs.consumers.get(`RAWT_${tag}`, "c");
  const rc = await js.consumers.get(`RAWR_${tag}`, "c");
  const loops = [
    ...Array.from({ length: WORKERS * PER_WORKER }, async () => {
      while (!stop.signal.aborted) {
        const m = await tc.next({ expires: 1_000 });
        if (!m) continue;
        await wjs.publish(`raw${tag}.R`, m.data, { msgID: `${m.seq}` });
        await m.ackAck();
      }
    }),
    (async () => {
      while (!stop.signal.aborted) {
        const m = await rc.next({ expires: 1_000 });
        if (!m) continue;
        await m.ackAck();
        done++;
      }
    })(),
  ];
  await new Promise((r) => setTimeout(r, 300));
  const o0 = msgs([nc]);
  const w0 = msgs([wnc]);
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: 16 }, async (_, lane) => {
      for (let i = lane; i < N; i += 16) await js.publish(`raw${tag}.T`, JSON.stringify({ n: i }), { msgID: `t${i}` });
    }),
  );
  await until(() => done >= N, 120_000, `${N} raw reports`);
  const cpu = cpuMs(process.cpuUsage(cpu0));
  const res = {
    "pg statements": 0,
    "pg commits": 0,
    "nats msgs, orchestrator": (msgs([nc]) - o0) / N,
    "nats msgs, workers": (msgs([wnc]) - w0) / N,
    "cpu ms, this process": cpu / N,
  };
  stop.abort();
  await Promise.all(loops);
  await wnc.close();
  await jsm.streams.delete(`RAWT_${tag}`);
  await jsm.streams.delete(`RAWR_${tag}`);
  return res;
}

const nats = await useNats();
const pgsvc = await usePostgres();
const nc = await connect({ servers: nats.url, ...NATS_CLIENT });
const admin = postgres(pgsvc.url, { max: 1, onnotice: () => {} });
try {
  const [s] = await admin`select current_setting('fsync') as fsync, current_setting('synchronous_commit') as sc`;
  console.log(`${N} tasks, ${WORKERS} workers x ${PER_WORKER}; postgres fsync=${s!.fsync} synchronous_commit=${s!.sc}`);
  await remote(nats.url, pgsvc.url, admin); // warm-up (JIT, pools), not reported
  await raw(nats.url, nc);
  const r = await remote(nats.url, pgsvc.url, admin);
  const b = await raw(nats.url, nc);
  console.log("per activity               remote    raw JetStream   remote/raw");
  for (const k of Object.keys(r)) {
    const ratio = b[k]! > 0 ? (r[k]! / b[k]!).toFixed(2) : "-";
    console.log(`${k.padEnd(26)} ${r[k]!.toFixed(2).padStart(6)}    ${b[k]!.toFixed(2).padStart(8)}        ${ratio}`);
  }
} finally {
  await admin.end({ timeout: 5 });
  await nc.close();
  await pgsvc.stop();
  await nats.stop();
}

/**
 * Runs/s of a one-stage workflow through the kernel on the Postgres persistence (jobs on the
 * in-memory queue, so only persistence is measured), beside a raw postgres.js baseline doing the
 * same row writes per run (insert run, insert stage, update stage ×2, update run, insert the
 * same number of outbox rows) with the same concurrency, in the same run on the same server.
 * Both sides are warmed up, then measured in alternating rounds, each pass on a freshly migrated
 * schema; the medians are compared.
 *
 *   npx tsx bench/postgres.ts [runs=500] [lanes=8] [rounds=3]
 *
 * Uses a fresh database from the integration harness (JETFLOW_TEST_DATABASE_URL, the local
 * server, or a throwaway cluster, never an fsync=off container; see bench/support/servers.ts),
 * dropped at the end; the server's fsync and synchronous_commit are printed.
 */
import { randomUUID } from "node:crypto";
import postgres from "postgres";
import { z } from "zod";
import { migrate } from "../adapters/postgres/migrate.js";
import { createPostgresPersistence } from "../adapters/postgres/persistence.js";
import { WorkflowBuilder } from "../src/builder/index.js";
import type { AnyWorkflow } from "../src/builder/types.js";
import { createKernel } from "../src/kernel/create-kernel.js";
import { systemClock } from "../src/ports/clock.js";
import { defineStage } from "../src/stages/index.js";
import type { Persistence } from "../src/ports/persistence.js";
import { CollectingEventSink, InMemoryBlobStore, InMemoryJobQueue, NoopScheduler } from "../src/testing/index.js";
import { benchPostgres } from "./support/servers.js";
import { load, median } from "./support/stats.js";

const N = Number(process.argv[2] ?? 500);
const LANES = Number(process.argv[3] ?? 8);
const ROUNDS = Number(process.argv[4] ?? 3);

/** Runs `fn(i)` for i in [0, n) on `lanes` concurrent lanes. */
async function lanes(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < n; i = next++) await fn(i);
    }),
  );
}

const Num = z.object({ n: z.number() });
const work = defineStage({
  id: "work",
  name: "Work",
  schemas: { input: Num, output: Num, config: z.object({}) },
  async execute(ctx) {
    return { output: { n: ctx.input.n + 1 } };
  },
});
const wf = new WorkflowBuilder("bench", "Bench", "one stage", Num, Num).pipe(work).build() as AnyWorkflow;

/** The same pipeline on `persistence`: create → claim → execute → transition, `LANES` at a time. */
async function drive(persistence: Persistence, N: number): Promise<number> {
  const queue = new InMemoryJobQueue();
  const kernel = createKernel({
    persistence,
    jobTransport: queue,
    blobStore: new InMemoryBlobStore(),
    eventSink: new CollectingEventSink(),
    scheduler: new NoopScheduler(),
    clock: systemClock,
    registry: { getWorkflow: (id) => (id === "bench" ? wf : undefined) },
  });
  const t0 = performance.now();
  // What a host does for each run: create → claim → execute its job → transition.
  await lanes(N, LANES, async (i) => {
    await kernel.dispatch({ type: "run.create", idempotencyKey: `bench-${i}`, workflowId: "bench", input: { n: i } });
  });
  let claimed = 0;
  while (claimed < N) claimed += (await kernel.dispatch({ type: "run.claimPending", workerId: "bench", maxClaims: 100 })).claimed.length;
  await lanes(N, LANES, async () => {
    const job = await queue.dequeue({ workerId: "bench", waitMs: 5_000 });
    if (!job) throw new Error("bench: expected a job");
    const r = await kernel.dispatch({
      type: "job.execute",
      workflowRunId: job.workflowRunId,
      workflowId: job.workflowId,
      stageId: job.stageId,
      delivery: { jobId: job.jobId, deliveryCount: job.deliveryCount, attempt: job.attempt },
    });
    await queue.complete(job);
    if (r.outcome === "completed" && !r.transitioned) await kernel.dispatch({ type: "run.transition", workflowRunId: job.workflowRunId });
  });
  const ms = performance.now() - t0;
  const done = await persistence.countRunsByStatus();
  if (done.COMPLETED !== N) throw new Error(`bench: only ${done.COMPLETED} of ${N} runs completed`);
  return ms;
}

async function kernelPhase(
  sql: postgres.Sql,
  counter: { queries: number },
  schema: string,
  N: number,
): Promise<{ ms: number; queries: number; outboxPerRun: number }> {
  await migrate(sql, { schema });
  const q0 = counter.queries;
  const ms = await drive(createPostgresPersistence(sql, { schema }), N);
  const done = await sql`select count(*)::int as n from ${sql(schema)}.runs where status = 'COMPLETED'`;
  if (done[0]!.n !== N) throw new Error(`bench: only ${done[0]!.n} of ${N} runs completed`);
  const ob = await sql`select count(*)::int as n from ${sql(schema)}.outbox`;
  return { ms, queries: counter.queries - q0, outboxPerRun: Math.round(ob[0]!.n / N) };
}

async function rawPhase(sql: postgres.Sql, outboxPerRun: number, schema: string, N: number): Promise<number> {
  await migrate(sql, { schema });
  const s = sql(schema);
  const t0 = performance.now();
  await lanes(N, LANES, async (i) => {
    const runId = randomUUID();
    const now = new Date();
    await sql`insert into ${s}.runs (id, workflow_id, status, input, config, priority, created_at, updated_at, last_activity_at)
      values (${runId}, 'bench', 'PENDING', ${sql.json({ n: i })}, '{}', 0, ${now}, ${now}, ${now})`;
    await sql`insert into ${s}.stages (id, run_id, stage_id, stage_name, group_index, status, max_attempts, created_at, updated_at)
      values (${randomUUID()}, ${runId}, 'work', 'Work', 0, 'PENDING', 3, ${now}, ${now})`;
    await sql`update ${s}.stages set status = 'RUNNING', attempt = 1, started_at = ${now}, updated_at = ${now} where run_id = ${runId} and stage_id = 'work'`;
    await sql`update ${s}.stages set status = 'COMPLETED', output = ${sql.json({ n: i + 1 })}, completed_at = ${now}, updated_at = ${now}
      where run_id = ${runId} and stage_id = 'work'`;
    await sql`update ${s}.runs set status = 'COMPLETED', output = ${sql.json({ n: i + 1 })}, completed_at = ${now}, updated_at = ${now} where id = ${runId}`;
    const rows = Array.from({ length: outboxPerRun }, () => ({
      id: randomUUID(),
      kind: "event",
      run_id: runId,
      type: "stage:completed",
      payload: sql.json({ runId }),
      created_at: now,
    }));
    if (rows.length) await sql`insert into ${s}.outbox ${sql(rows)}`;
  });
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const pg = await benchPostgres();
  const counter = { queries: 0 };
  const sql = postgres(pg.url, {
    max: LANES + 2,
    onnotice: () => {},
    debug: (_c: number, q: string) => {
      counter.queries++;
      if (process.env.BENCH_TRACE) process.stderr.write(q.replace(/\s+/g, " ").slice(0, 90) + "\n");
    },
  });
  try {
    // Warm-up of both sides (JIT, prepared statements, the server's caches), not reported; it also
    // tells the raw side how many outbox rows a run writes.
    const warm = Math.min(100, N);
    const w = await kernelPhase(sql, counter, "bench_kernel_w", warm);
    await rawPhase(sql, w.outboxPerRun, "bench_raw_w", warm);
    const kernel: { ms: number; queries: number; outboxPerRun: number }[] = [];
    const raw: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which side goes first, so neither always meets the other's checkpoint or autovacuum.
      if (r % 2 === 0) {
        kernel.push(await kernelPhase(sql, counter, `bench_kernel_${r}`, N));
        raw.push(await rawPhase(sql, w.outboxPerRun, `bench_raw_${r}`, N));
      } else {
        raw.push(await rawPhase(sql, w.outboxPerRun, `bench_raw_${r}`, N));
        kernel.push(await kernelPhase(sql, counter, `bench_kernel_${r}`, N));
      }
    }
    const k = { ms: median(kernel.map((x) => x.ms)), queries: median(kernel.map((x) => x.queries)), outboxPerRun: w.outboxPerRun };
    const rawMs = median(raw);
    const kRate = N / (k.ms / 1000);
    const rawRate = N / (rawMs / 1000);
    console.log(
      `postgres bench: ${N} one-stage runs, ${LANES} lanes, source=${pg.source}; median of ${ROUNDS} alternating rounds after a warm-up`,
    );
    console.log(`  ${pg.settings}; ${load()}`);
    console.log(
      `  kernel + PostgresPersistence : ${kRate.toFixed(1)} runs/s (${k.ms.toFixed(0)} ms, ${(k.queries / N).toFixed(1)} statements/run, ${k.outboxPerRun} outbox rows/run)`,
    );
    console.log(
      `  raw postgres.js same writes  : ${rawRate.toFixed(1)} runs/s (${rawMs.toFixed(0)} ms, ${5 + (k.outboxPerRun ? 1 : 0)} statements/run)`,
    );
    console.log(`  ratio kernel/raw             : ${(kRate / rawRate).toFixed(2)}`);
  } finally {
    await sql.end({ timeout: 5 });
    await pg.stop();
  }
}

await main();

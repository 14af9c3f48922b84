// Rate limits and concurrency keys on real Postgres with TWO orchestrators: two kernels + node
// hosts, each on its own postgres.js client (separate connections), sharing one schema through
// the Postgres persistence and job transport. Bodies record start/end; the checks are on what
// a user observes: overlap per key, start order between tenants, pace, a dead holder's slot.
// test-file-timeout-ms: 300000
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import type postgres from "postgres";
import { services } from "../harness/index.js";
import { client, migratedSchema, waitFor } from "./helpers.js";
import { createPostgresJobTransport } from "../../adapters/postgres/job-transport.js";
import { createPostgresPersistence } from "../../adapters/postgres/persistence.js";
import { createNodeHost } from "../../src/hosts/index.js";
import { createKernel } from "../../src/kernel/create-kernel.js";
import type { Kernel } from "../../src/kernel/types.js";
import type { AnyWorkflow } from "../../src/builder/types.js";
import { systemClock } from "../../src/ports/clock.js";
import type { StageLimits } from "../../src/contract/stage-limits.js";
import { CollectingEventSink, InMemoryBlobStore, NoopScheduler } from "../../src/testing/index.js";
import { stage, workflow } from "../../test/kernel/support/harness.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
const clients: postgres.Sql[] = [];
let admin: postgres.Sql | null = null;

interface Span {
  tenant: string;
  start: number;
  end: number;
}

function limitedWorkflow(limits: StageLimits, spans: Span[], bodyMs: number): AnyWorkflow {
  const s = {
    ...stage({
      id: "work",
      execute: async (ctx) => {
        const span = { tenant: (ctx.input as { tenant: string }).tenant, start: performance.now(), end: Infinity };
        spans.push(span);
        await new Promise((r) => setTimeout(r, bodyMs)); // the stage's own work
        span.end = performance.now();
        return { output: { ok: true } };
      },
    }),
    limits,
  };
  return workflow("limited", [s], { input: z.object({ tenant: z.string(), n: z.number() }) });
}

async function cluster(wf: AnyWorkflow, hostsWanted = 2) {
  admin ??= client(svc!.postgres.url, 4);
  const { schema } = await migratedSchema(admin);
  const sink = new CollectingEventSink();
  const kernels: Kernel[] = [];
  const hosts: ReturnType<typeof createNodeHost>[] = [];
  const transports: ReturnType<typeof createPostgresJobTransport>[] = [];
  for (let i = 0; i < 2; i++) {
    const sql = client(svc!.postgres.url, 6);
    clients.push(sql);
    const jobTransport = createPostgresJobTransport(sql, { schema, leaseMs: 1_500, pollIntervalMs: 200 });
    transports.push(jobTransport);
    const kernel = createKernel({
      persistence: createPostgresPersistence(sql, { schema }),
      blobStore: new InMemoryBlobStore(),
      jobTransport,
      eventSink: sink,
      scheduler: new NoopScheduler(),
      clock: systemClock,
      registry: { getWorkflow: (id) => (id === wf.id ? wf : undefined) },
    });
    kernels.push(kernel);
    if (i < hostsWanted) {
      hosts.push(
        createNodeHost({
          kernel,
          jobTransport,
          workerId: `o${i}`,
          orchestrationIntervalMs: 100,
          jobPollIntervalMs: 50,
          maxClaimsPerTick: 300,
          maxConcurrentJobs: 6,
          staleLeaseThresholdMs: 100,
          handleSignals: false,
        }),
      );
    }
  }
  const start = async () => {
    for (const h of hosts) await h.start();
  };
  let k = 0;
  const create = async (tenant: string, n: number) =>
    (await kernels[n % 2]!.dispatch({ type: "run.create", idempotencyKey: `r-${++k}`, workflowId: wf.id, input: { tenant, n } }))
      .workflowRunId;
  const finished = () => sink.events.filter((e) => e.type === "workflow:completed" || e.type === "workflow:failed");
  const waitAll = async (count: number, ms: number) => {
    if (finished().length < count) await sink.waitFor(() => finished().length >= count, ms);
    return finished();
  };
  const stop = async () => {
    for (const h of hosts) await h.stop();
    // Their LISTEN connections would otherwise outlive the test (seen: the file never exited under load).
    for (const tr of transports) await tr.close();
  };
  return { kernels, transports, create, start, waitAll, stop, sink, schema };
}

function maxOverlap(spans: Span[], tenant?: string): number {
  const mine = spans.filter((s) => tenant === undefined || s.tenant === tenant);
  let max = 0;
  for (const s of mine) max = Math.max(max, mine.filter((o) => o.start <= s.start && o.end > s.start).length);
  return max;
}

const byTenant = (i: unknown) => (i as { tenant: string }).tenant;

t("maxConcurrent 2 per key is never exceeded across two orchestrators", async () => {
  const spans: Span[] = [];
  const c = await cluster(limitedWorkflow({ concurrency: { key: byTenant, maxConcurrent: 2 } }, spans, 60));
  try {
    for (let n = 0; n < 30; n++) await c.create("a", n);
    for (let n = 0; n < 10; n++) await c.create("b", 100 + n);
    await c.start();
    const done = await c.waitAll(40, 120_000);
    assert.ok(done.every((e) => e.type === "workflow:completed"));
    assert.is(spans.length, 40);
    const a = maxOverlap(spans, "a");
    const b = maxOverlap(spans, "b");
    console.log(`postgres maxConcurrent: peak overlap a=${a} b=${b} all=${maxOverlap(spans)}`);
    assert.is(a, 2);
    assert.ok(b <= 2);
  } finally {
    await c.stop();
  }
});

t("fairness: tenant B's 5 all start before tenant A (200 queued) has started 20", async () => {
  const spans: Span[] = [];
  const c = await cluster(limitedWorkflow({ concurrency: { key: byTenant, queueMaxConcurrent: 3 } }, spans, 30));
  try {
    for (let n = 0; n < 200; n++) await c.create("a", n);
    for (let n = 0; n < 5; n++) await c.create("b", 1000 + n);
    await c.start(); // every run queued first: the order between tenants is then the limits' doing
    await c.waitAll(205, 240_000);
    assert.ok(maxOverlap(spans) <= 3, `overlap ${maxOverlap(spans)}`);
    const order = [...spans].sort((x, y) => x.start - y.start);
    const lastB = order.map((s) => s.tenant).lastIndexOf("b");
    const aBefore = order.slice(0, lastB).filter((s) => s.tenant === "a").length;
    console.log(`postgres fairness: A started ${aBefore} of 200 before B's 5th start`);
    assert.ok(aBefore < 20, `A started ${aBefore} before B's last start`);
  } finally {
    await c.stop();
  }
});

t("a rate limit of 5/s holds across two orchestrators", async () => {
  const spans: Span[] = [];
  const c = await cluster(limitedWorkflow({ rateLimit: { key: byTenant, perSecond: 5, burst: 2 } }, spans, 1));
  try {
    for (let n = 0; n < 20; n++) await c.create("a", n);
    await c.start(); // every run queued first: the order between tenants is then the limits' doing
    await c.waitAll(20, 120_000);
    const starts = spans.map((s) => s.start).sort((x, y) => x - y);
    const elapsed = (starts.at(-1)! - starts[0]!) / 1000;
    let worst = 0;
    for (const s of starts) worst = Math.max(worst, starts.filter((x) => x >= s && x < s + 2000).length);
    console.log(`postgres rate: 20 starts in ${elapsed.toFixed(2)} s (ideal 3.6 s); most in any 2 s window ${worst} (limit 10 + burst 2)`);
    // The limit is on admissions; a body starts one job dispatch later, and on a loaded machine that
    // delay varies by a few hundred ms, which can pull a start or two into the previous window
    // (seen: 13 and 14 starts in 2 s, 20 in 3.3 s). Unlimited, the 20 would start within about a
    // second, so 20 in a window is what a broken limit looks like; `elapsed` checks the rate.
    assert.ok(elapsed >= 3.0, `20 starts at 5/s with burst 2 need >= 3.6 s (less dispatch jitter), took ${elapsed}`);
    assert.ok(worst <= 14, `${worst} starts in a 2 s window (limit 10 + burst 2, + 2 for dispatch jitter)`);
  } finally {
    await c.stop();
  }
});

t("a holder whose orchestrator died gives its slot back once its lease runs out", async () => {
  const spans: Span[] = [];
  // The dead orchestrator's body hangs until the test ends. Released then (and awaited), or its
  // kernel's run watcher retries against the closed pool every second and the file never exits.
  let releaseDead = () => {};
  const hung = new Promise<void>((r) => (releaseDead = r));
  const hold = {
    ...stage({
      id: "work",
      maxAttempts: 1,
      execute: async (ctx) => {
        spans.push({ tenant: (ctx.input as { tenant: string }).tenant, start: performance.now(), end: Infinity });
        if ((ctx.input as { n: number }).n === 0) await hung; // the orchestrator running it "dies" mid-attempt
        return { output: { ok: true } };
      },
    }),
    limits: { concurrency: { maxConcurrent: 1 } },
  };
  const wf = workflow("limited", [hold], { input: z.object({ tenant: z.string(), n: z.number() }) });
  // Kernel 0 has no host: the test plays a dying orchestrator with it. Kernel 1 runs a host.
  const c = await cluster(wf, 0);
  const dead = c.kernels[0]!;
  const r0 = await c.create("a", 0);
  await dead.dispatch({ type: "run.claimPending", workerId: "dead", maxClaims: 10 });
  await dead.dispatch({ type: "outbox.flush" });
  const job = await waitFor("the holder's job", () => c.transports[0]!.dequeue({ workerId: "dead", waitMs: 500 }), 10_000);
  const deadAttempt = dead.dispatch({
    type: "job.execute",
    workflowRunId: job.workflowRunId,
    workflowId: job.workflowId,
    stageId: job.stageId,
    delivery: { jobId: job.jobId, deliveryCount: job.deliveryCount, attempt: job.attempt },
  });
  await waitFor("the holder to start", async () => spans.length === 1, 10_000);
  const r1 = await c.create("a", 1);
  const host = createNodeHost({
    kernel: c.kernels[1]!,
    jobTransport: c.transports[1]!,
    workerId: "alive",
    orchestrationIntervalMs: 100,
    jobPollIntervalMs: 50,
    staleLeaseThresholdMs: 100,
    handleSignals: false,
  });
  await host.start();
  try {
    const waiting = await waitFor(
      "r1 to wait for the slot",
      async () => {
        const w = await c.kernels[1]!.runs.get(r1);
        return w?.waiting?.length ? w.waiting : null;
      },
      20_000,
    );
    assert.is(waiting[0]!.reason, "concurrency");
    assert.match(waiting[0]!.detail, /full: 1\/1 running/);
    // No heartbeat from the dead orchestrator: the lease expires, the live host redelivers the
    // job, the holder has no attempt left and fails, and its slot goes to r1.
    const done = await c.waitAll(2, 60_000);
    const byRun = new Map(done.map((e) => [e.workflowRunId, e.type]));
    assert.is(byRun.get(r0), "workflow:failed");
    assert.is(byRun.get(r1), "workflow:completed");
  } finally {
    releaseDead();
    await deadAttempt; // its late outcome is refused: the stage already failed
    await host.stop();
    await c.stop();
  }
});

test.after(async () => {
  for (const sql of clients) await sql.end({ timeout: 5 });
  await admin?.end({ timeout: 5 });
  await svc?.stop();
});
test.run();

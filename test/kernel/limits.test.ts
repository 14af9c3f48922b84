// Rate limits and concurrency keys on the in-memory adapters: two kernels + node hosts sharing
// one persistence and job queue play two orchestrators. Stage bodies record when they start and
// end, so the assertions are about what a user would observe: overlap, order, pace.
// test-file-timeout-ms: 120000
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { createNodeHost } from "../../src/hosts/index.js";
import { createKernel } from "../../src/kernel/create-kernel.js";
import type { Kernel } from "../../src/kernel/types.js";
import { systemClock } from "../../src/ports/clock.js";
import type { StageLimits } from "../../src/contract/stage-limits.js";
import { CollectingEventSink, InMemoryBlobStore, InMemoryJobQueue, InMemoryPersistence, NoopScheduler } from "../../src/testing/index.js";
import { stage, workflow, makeEnv } from "./support/harness.js";

interface Span {
  tenant: string;
  n: number;
  start: number;
  end: number;
}

function limitedWorkflow(limits: StageLimits, spans: Span[], bodyMs: number) {
  const s = {
    ...stage({
      id: "work",
      execute: async (ctx) => {
        const input = ctx.input as { tenant: string; n: number };
        const span = { tenant: input.tenant, n: input.n, start: performance.now(), end: Infinity };
        spans.push(span);
        await new Promise((r) => setTimeout(r, bodyMs)); // the stage's own work, not synchronisation
        span.end = performance.now();
        return { output: { ok: true } };
      },
    }),
    limits,
  };
  return workflow("limited", [s], { input: z.object({ tenant: z.string(), n: z.number() }) });
}

/** Two orchestrators (kernel + node host each) over one database and one job queue. */
async function cluster(wf: ReturnType<typeof limitedWorkflow>, slotsPerHost = 8) {
  const persistence = new InMemoryPersistence();
  const jobTransport = new InMemoryJobQueue();
  const sink = new CollectingEventSink();
  const kernels: Kernel[] = [];
  const hosts: ReturnType<typeof createNodeHost>[] = [];
  for (let i = 0; i < 2; i++) {
    const kernel = createKernel({
      persistence,
      blobStore: new InMemoryBlobStore(),
      jobTransport,
      eventSink: sink,
      scheduler: new NoopScheduler(),
      clock: systemClock,
      registry: { getWorkflow: (id) => (id === wf.id ? wf : undefined) },
    });
    kernels.push(kernel);
    hosts.push(
      createNodeHost({
        kernel,
        jobTransport,
        workerId: `o${i}`,
        orchestrationIntervalMs: 50,
        jobPollIntervalMs: 10,
        maxClaimsPerTick: 100,
        maxConcurrentJobs: slotsPerHost,
        handleSignals: false,
      }),
    );
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
  };
  return { kernels, create, start, waitAll, stop, sink, persistence };
}

/** Most bodies of `tenant` running at one instant. */
function maxOverlap(spans: Span[], tenant?: string): number {
  const mine = spans.filter((s) => tenant === undefined || s.tenant === tenant);
  let max = 0;
  for (const s of mine) max = Math.max(max, mine.filter((o) => o.start <= s.start && o.end > s.start).length);
  return max;
}

test("maxConcurrent 2 per key holds across two orchestrators", async () => {
  const spans: Span[] = [];
  const wf = limitedWorkflow({ concurrency: { key: (i) => (i as { tenant: string }).tenant, maxConcurrent: 2 } }, spans, 30);
  const c = await cluster(wf);
  try {
    for (let n = 0; n < 12; n++) await c.create("a", n);
    for (let n = 0; n < 6; n++) await c.create("b", 100 + n);
    await c.start();
    const done = await c.waitAll(18, 60_000);
    assert.ok(done.every((e) => e.type === "workflow:completed"));
    assert.is(spans.length, 18);
    assert.is(maxOverlap(spans, "a"), 2);
    assert.ok(maxOverlap(spans, "b") <= 2);
    assert.ok(maxOverlap(spans) >= 3, "two tenants run side by side");
  } finally {
    await c.stop();
  }
});

test("queueMaxConcurrent shares slots round-robin: B's 5 start before A's 9th", async () => {
  const spans: Span[] = [];
  const wf = limitedWorkflow({ concurrency: { key: (i) => (i as { tenant: string }).tenant, queueMaxConcurrent: 2 } }, spans, 25);
  const c = await cluster(wf);
  try {
    for (let n = 0; n < 60; n++) await c.create("a", n);
    for (let n = 0; n < 5; n++) await c.create("b", 100 + n);
    await c.start(); // every run queued first: the order between tenants is then the limits' doing
    await c.waitAll(65, 90_000);
    assert.ok(maxOverlap(spans) <= 2, `overlap ${maxOverlap(spans)}`);
    const order = [...spans].sort((x, y) => x.start - y.start);
    const lastB = order.map((s) => s.tenant).lastIndexOf("b");
    const aBefore = order.slice(0, lastB).filter((s) => s.tenant === "a").length;
    console.log(`fairness: A starts before B's last start = ${aBefore} (of 60)`);
    assert.ok(aBefore <= 8, `A started ${aBefore} times before B's last start`);
  } finally {
    await c.stop();
  }
});

test("a rate limit of 10/s holds across two orchestrators", async () => {
  const spans: Span[] = [];
  const wf = limitedWorkflow({ rateLimit: { perSecond: 10 } }, spans, 1);
  const c = await cluster(wf);
  try {
    for (let n = 0; n < 16; n++) await c.create("a", n);
    await c.start(); // every run queued first: the order between tenants is then the limits' doing
    await c.waitAll(16, 60_000);
    const starts = spans.map((s) => s.start).sort((a, b) => a - b);
    const elapsed = (starts.at(-1)! - starts[0]!) / 1000;
    let worst = 0;
    for (const s of starts) worst = Math.max(worst, starts.filter((t) => t >= s && t < s + 1000).length);
    console.log(`rate: 16 starts over ${elapsed.toFixed(2)} s; most in any 1 s window ${worst}`);
    assert.ok(elapsed >= 1.4, `16 starts at 10/s (burst 1) need >= 1.5 s, took ${elapsed}`);
    assert.ok(worst <= 11, `${worst} starts in one second`);
  } finally {
    await c.stop();
  }
});

test("a waiting stage shows why, and gets the slot when the holder is cancelled or runs out of attempts", async () => {
  const releases: (() => void)[] = [];
  const hang = stage({
    id: "hold",
    maxAttempts: 1,
    execute: () => new Promise((r) => releases.push(() => r({ output: 1 }))),
  });
  const limited = { ...hang, limits: { concurrency: { maxConcurrent: 1 } } };
  const env = makeEnv([workflow("w", [limited])]);
  const r1 = await env.create("w", {});
  const r2 = await env.create("w", {});
  const r3 = await env.create("w", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "o", maxClaims: 10 });
  await env.kernel.dispatch({ type: "outbox.flush" });
  const first = await env.queue.dequeue({ workerId: "w" });
  const exec = (job: NonNullable<typeof first>) =>
    env.kernel.dispatch({
      type: "job.execute",
      workflowRunId: job.workflowRunId,
      workflowId: job.workflowId,
      stageId: job.stageId,
      delivery: { jobId: job.jobId, deliveryCount: 1, attempt: job.attempt },
    });
  const holder = exec(first!); // hangs: the holder
  // Admission happens before dispatch: the two that do not fit were parked at claim, no job queued.
  assert.is(await env.queue.dequeue({ workerId: "w" }), null);
  const views = await Promise.all([r1, r2, r3].filter((r) => r !== first!.workflowRunId).map((r) => env.kernel.runs.get(r)));
  const reasons = views.map((v) => v!.waiting[0]!.reason).sort();
  // One is refused by the full key, the other queues behind it.
  assert.equal(reasons, ["concurrency", "fair-share"]);
  const full = views.find((v) => v!.waiting[0]!.reason === "concurrency")!.waiting[0]!;
  assert.match(full.detail, /concurrency key "\*" of "stage:w\/hold#concurrency" full: 1\/1 running/);
  assert.is(full.stageId, "hold");
  // Nothing fits while the holder runs.
  assert.is((await env.kernel.dispatch({ type: "stage.admitWaiting" })).granted, 0);
  // Cancelling the holder frees its slot in the same commit: the next grant pass admits one waiter.
  await env.kernel.dispatch({ type: "run.cancel", workflowRunId: first!.workflowRunId });
  await env.kernel.dispatch({ type: "stage.admitWaiting" }); // the cancel also kicked one; either grants
  assert.is((await env.persistence.listWaiters({ limit: 10 })).length, 1);
  await env.kernel.dispatch({ type: "outbox.flush" });
  const second = await env.queue.dequeue({ workerId: "w" });
  assert.ok(second && second.jobId.includes("~g"));
  const holder2 = exec(second!);
  // A crashed holder: its job is redelivered after the lease; with no attempt left the stage fails and its slot comes back.
  await new Promise((r) => setImmediate(r));
  const redelivered = await exec(second!);
  assert.is(redelivered.outcome, "failed");
  await env.kernel.dispatch({ type: "stage.admitWaiting" });
  assert.is((await env.persistence.listWaiters({ limit: 10 })).length, 0);
  for (const release of releases) release();
  await Promise.all([holder, holder2]);
});

test.run();

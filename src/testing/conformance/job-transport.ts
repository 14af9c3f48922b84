import { randomUUID } from "node:crypto";
import { deepStrictEqual as eq, equal, notEqual, ok } from "node:assert/strict";
import type { JobSpec, JobTransport, LeasedJob } from "../../ports/job-transport.js";
import { type ConformanceCase, type Disposable, defineCases } from "./case.js";

/** What jobTransportConformance's factory returns: a fresh, empty queue per call. */
export interface JobTransportUnderTest extends Disposable {
  transport: JobTransport;
}

/** Lease and delivery limits a case asks the factory for; short so the suite is fast on real servers. */
export interface JobTransportCaseOptions {
  leaseMs: number;
  maxDeliveries: number;
}

const LEASE_MS = 300;
/** Slack for server-side timers (JetStream's AckWait, SQL now()) and clock granularity. */
const SKEW_MS = 50;
/** Upper bound on any wait for something that should happen after one lease. */
const BOUND_MS = LEASE_MS * 10 + 5_000;

function spec(overrides: Partial<JobSpec> = {}): JobSpec {
  const runId = randomUUID();
  return {
    jobId: `${runId}:extract:1`,
    workflowRunId: runId,
    workflowId: "wf-conformance",
    stageId: "extract",
    attempt: 1,
    maxAttempts: 3,
    priority: 0,
    payload: { config: { k: "v" } },
    ...overrides,
  };
}

const specOf = (j: LeasedJob): JobSpec => {
  const { deliveryCount: _d, leaseToken: _t, leaseExpiresAt: _e, ...rest } = j;
  return rest;
};

/** Calls releaseStale and dequeues until `accept` takes a job, within `timeoutMs`. */
async function redelivered(t: JobTransport, accept: (j: LeasedJob) => boolean, timeoutMs = BOUND_MS): Promise<LeasedJob> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await t.releaseStale(new Date(), 0);
    let j: LeasedJob | null;
    try {
      j = await t.dequeue({ workerId: "w-redeliver", waitMs: 50 });
    } catch (err) {
      // UNAVAILABLE is the port's "try again" (hosts retry it); on a starved machine a pull can miss
      // its answer's deadline. What is checked here is the redelivery, within the outer bound.
      if ((err as { code?: string }).code === "UNAVAILABLE") continue;
      throw err;
    }
    if (j && accept(j)) return j;
    if (j) throw new Error(`conformance: unexpected job ${j.jobId} (delivery ${j.deliveryCount}) while waiting for a redelivery`);
  }
  throw new Error(`conformance: no redelivery within ${timeoutMs}ms`);
}

/** Asserts nothing is delivered for `forMs`, releasing stale leases all along (as a reaper would). */
async function nothingDelivered(t: JobTransport, forMs: number, why: string): Promise<void> {
  const until = Date.now() + forMs;
  while (Date.now() < until) {
    await t.releaseStale(new Date(), 0);
    const j = await t.dequeue({ workerId: "w-idle", waitMs: Math.min(100, Math.max(1, until - Date.now())) });
    equal(j, null, `${why}: got ${j?.jobId} (delivery ${j?.deliveryCount})`);
  }
}

/**
 * Every behaviour the kernel relies on from a JobTransport. `factory` must return a fresh, empty
 * queue (its own stream/table) honouring the given lease length and delivery limit.
 */
export function jobTransportConformance(factory: (opts: JobTransportCaseOptions) => Promise<JobTransportUnderTest>): ConformanceCase[] {
  const withLimits = (maxDeliveries: number) => () => factory({ leaseMs: LEASE_MS, maxDeliveries });
  const std = withLimits(5);
  return [
    ...defineCases("job transport", std, {
      "enqueue/dequeue round-trips every JobSpec field; first delivery has count 1 and a lease": async ({ transport: t }) => {
        const full = spec({
          attempt: 2,
          maxAttempts: 4,
          priority: 3,
          availableAt: new Date(Date.now() - 1_000),
          payload: { config: { nested: [1, "two", null, { x: true }] }, text: "héllo 🌍" },
          traceContext: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tracestate: "k=v" },
        });
        const before = Date.now();
        await t.enqueue([full]);
        const job = await t.dequeue({ workerId: "w1", waitMs: 2_000 });
        const after = Date.now();
        ok(job, "the job is delivered");
        eq(specOf(job), full);
        equal(job.deliveryCount, 1);
        ok(typeof job.leaseToken === "string" && job.leaseToken.length > 0, "a lease token");
        ok(job.leaseExpiresAt instanceof Date, "leaseExpiresAt is a Date");
        const exp = job.leaseExpiresAt.getTime();
        ok(exp >= before + LEASE_MS - SKEW_MS && exp <= after + LEASE_MS + 1_000, `lease ends ~leaseMs from now (got +${exp - after}ms)`);
        await t.complete(job);
      },

      "dequeue with waitMs 0 on an empty queue returns null at once": async ({ transport: t }) => {
        const start = Date.now();
        equal(await t.dequeue({ workerId: "w", waitMs: 0 }), null);
        ok(Date.now() - start < 1_000, "does not wait");
      },

      "dequeue waits about waitMs, then returns null": async ({ transport: t }) => {
        const start = Date.now();
        equal(await t.dequeue({ workerId: "w", waitMs: 250 }), null);
        const took = Date.now() - start;
        ok(took >= 250 - SKEW_MS && took < 250 + 2_000, `waited ${took}ms for waitMs 250`);
      },

      "a job enqueued while a dequeue waits is returned promptly": async ({ transport: t }) => {
        const start = Date.now();
        const pending = t.dequeue({ workerId: "w", waitMs: 5_000 });
        const j = spec();
        const enqueued = new Promise<void>((resolve, reject) => setTimeout(() => t.enqueue([j]).then(resolve, reject), 100));
        const [job] = await Promise.all([pending, enqueued]);
        equal(job?.jobId, j.jobId);
        ok(Date.now() - start < 2_500, `returned after ${Date.now() - start}ms, not at the end of waitMs`);
        await t.complete(job!);
      },

      "a jobId is delivered once: duplicates while queued, in flight and after completion are dropped": async ({ transport: t }) => {
        const j = spec();
        await t.enqueue([j, { ...j, payload: { dup: 1 } }]);
        await t.enqueue([j]);
        const first = await t.dequeue({ workerId: "w", waitMs: 2_000 });
        eq(first && specOf(first), j);
        await t.enqueue([j]);
        equal(await t.dequeue({ workerId: "w", waitMs: 200 }), null, "no second copy while in flight");
        await t.complete(first!);
        await t.enqueue([j]);
        equal(await t.dequeue({ workerId: "w", waitMs: 200 }), null, "no copy after completion (within the de-dup window)");
      },

      "jobs of equal priority are delivered in enqueue order": async ({ transport: t }) => {
        const jobs = [spec(), spec(), spec()];
        await t.enqueue(jobs);
        const got: string[] = [];
        for (let i = 0; i < 3; i++) {
          const j = await t.dequeue({ workerId: "w", waitMs: 2_000 });
          ok(j);
          got.push(j.jobId);
          await t.complete(j);
        }
        eq(
          got,
          jobs.map((j) => j.jobId),
        );
      },

      "a job is not delivered before availableAt": async ({ transport: t }) => {
        const availableAt = new Date(Date.now() + 400);
        await t.enqueue([spec({ availableAt })]);
        equal(await t.dequeue({ workerId: "w", waitMs: 0 }), null);
        const job = await redelivered(t, () => true);
        ok(Date.now() >= availableAt.getTime() - SKEW_MS, `delivered ${availableAt.getTime() - Date.now()}ms early`);
        equal(job.deliveryCount, 1);
        eq(job.availableAt, availableAt);
        await t.complete(job);
      },

      "an expired lease is redelivered with deliveryCount 2 and a new token": async ({ transport: t }) => {
        const j = spec();
        await t.enqueue([j]);
        const first = await t.dequeue({ workerId: "w1", waitMs: 2_000 });
        ok(first);
        const second = await redelivered(t, (x) => x.jobId === j.jobId);
        equal(second.deliveryCount, 2);
        notEqual(second.leaseToken, first.leaseToken);
        ok(Date.now() >= first.leaseExpiresAt.getTime() - SKEW_MS, "not redelivered before the first lease expired");
        eq(specOf(second), j);
        await t.complete(second);
      },

      "heartbeats keep a job from being redelivered past its original lease": async ({ transport: t }) => {
        await t.enqueue([spec()]);
        const job = await t.dequeue({ workerId: "w", waitMs: 2_000 });
        ok(job);
        const until = Date.now() + LEASE_MS * 3;
        while (Date.now() < until) {
          await t.heartbeat(job);
          await t.releaseStale(new Date(), 0);
          equal(await t.dequeue({ workerId: "w2", waitMs: LEASE_MS / 4 }), null, "a heartbeated job is not redelivered");
        }
        await t.complete(job);
      },

      "complete and suspend end a job: it is never redelivered": async ({ transport: t }) => {
        await t.enqueue([spec(), spec()]);
        const a = await t.dequeue({ workerId: "w", waitMs: 2_000 });
        const b = await t.dequeue({ workerId: "w", waitMs: 2_000 });
        ok(a && b);
        await t.complete(a);
        await t.suspend(b, new Date(Date.now() + 60_000));
        await nothingDelivered(t, LEASE_MS * 2 + 200, "completed/suspended job redelivered");
      },

      "fail with retry redelivers after delayMs; fail without retry never": async ({ transport: t }) => {
        const retried = spec();
        const dropped = spec();
        await t.enqueue([retried, dropped]);
        const r1 = await t.dequeue({ workerId: "w", waitMs: 2_000 });
        const d1 = await t.dequeue({ workerId: "w", waitMs: 2_000 });
        ok(r1 && d1);
        const [r, d] = r1.jobId === retried.jobId ? [r1, d1] : [d1, r1];
        await t.fail(d, { error: "fatal", retry: false });
        const failedAt = Date.now();
        await t.fail(r, { error: "transient", retry: true, delayMs: 400 });
        equal(await t.dequeue({ workerId: "w", waitMs: 0 }), null, "not redelivered at once");
        const again = await redelivered(t, (x) => x.jobId === retried.jobId);
        ok(Date.now() - failedAt >= 400 - SKEW_MS, `redelivered after ${Date.now() - failedAt}ms, delay was 400ms`);
        equal(again.deliveryCount, 2);
        notEqual(again.leaseToken, r.leaseToken);
        await t.complete(again);
        await nothingDelivered(t, LEASE_MS * 2, "a job failed without retry came back");
      },

      "operations with a stale lease token are ignored": async ({ transport: t }) => {
        const j = spec();
        await t.enqueue([j]);
        const stale = await t.dequeue({ workerId: "w1", waitMs: 2_000 });
        ok(stale);
        const current = await redelivered(t, (x) => x.jobId === j.jobId);
        await t.heartbeat(stale);
        await t.complete(stale);
        await t.fail(stale, { error: "late", retry: false });
        // The current holder still owns the job: its retry is honoured.
        await t.fail(current, { error: "retry me", retry: true, delayMs: 0 });
        const third = await redelivered(t, (x) => x.jobId === j.jobId);
        equal(third.deliveryCount, 3);
        await t.complete(third);
      },

      "concurrent consumers each get distinct jobs": async ({ transport: t }) => {
        const jobs = Array.from({ length: 20 }, () => spec());
        await t.enqueue(jobs);
        const consumer = async (w: string) => {
          const mine: string[] = [];
          for (;;) {
            const j = await t.dequeue({ workerId: w, waitMs: 300 });
            if (!j) return mine;
            mine.push(j.jobId);
            await t.complete(j);
          }
        };
        const got = (await Promise.all(["a", "b", "c", "d"].map(consumer))).flat();
        equal(got.length, 20, "each job delivered exactly once");
        eq([...got].sort(), jobs.map((j) => j.jobId).sort());
      },
    }),
    ...defineCases("job transport", withLimits(2), {
      "a job that exhausts maxDeliveries surfaces once as a dead letter from releaseStale": async ({ transport: t }) => {
        const j = spec();
        await t.enqueue([j]);
        const first = await t.dequeue({ workerId: "w", waitMs: 2_000 });
        ok(first);
        const second = await redelivered(t, (x) => x.jobId === j.jobId);
        equal(second.deliveryCount, 2);
        // Servers that expire leases themselves report the dead letter after their own detection.
        const deadline = Date.now() + BOUND_MS;
        let found: { job: JobSpec; reason: string } | undefined;
        while (!found && Date.now() < deadline) {
          const { deadLettered } = await t.releaseStale(new Date(), 0);
          found = deadLettered.find((d) => d.job.jobId === j.jobId);
          if (!found) equal(await t.dequeue({ workerId: "w", waitMs: 50 }), null, "no delivery beyond maxDeliveries");
        }
        ok(found, `dead letter not reported within ${BOUND_MS}ms`);
        eq(
          [found.job.jobId, found.job.workflowRunId, found.job.stageId, found.job.attempt],
          [j.jobId, j.workflowRunId, j.stageId, j.attempt],
        );
        ok(typeof found.reason === "string" && found.reason.length > 0, "a reason");
        const later = await t.releaseStale(new Date(), 0);
        ok(!later.deadLettered.some((d) => d.job.jobId === j.jobId), "reported once");
        await nothingDelivered(t, LEASE_MS, "a dead letter was redelivered");
      },
    }),
  ];
}

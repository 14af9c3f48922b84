// Postgres-specific JobTransport behaviour: several transports (as in several processes) on
// one table never get the same job, LISTEN/NOTIFY wakes a waiting dequeue at once, a dead
// letter is reported once whichever transport asks, purgeFinished forgets finished ids.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { createPostgresJobTransport, type PostgresJobTransport } from "../../adapters/postgres/job-transport.js";
import type { JobSpec } from "../../src/ports/job-transport.js";
import { client, migratedSchema } from "./helpers.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
const sql = svc ? client(svc.postgres.url, 20) : null;
const open: PostgresJobTransport[] = [];

function job(i: number, extra: Partial<JobSpec> = {}): JobSpec {
  return {
    jobId: `run-${i}:s:1`,
    workflowRunId: `run-${i}`,
    workflowId: "w",
    stageId: "s",
    attempt: 1,
    maxAttempts: 3,
    priority: 0,
    payload: { i },
    ...extra,
  };
}
function transport(
  schema: string,
  opts: { leaseMs?: number; maxDeliveries?: number; separateClient?: boolean } = {},
): PostgresJobTransport {
  const tr = createPostgresJobTransport(opts.separateClient ? svc!.postgres.url : sql!, {
    schema,
    leaseMs: opts.leaseMs,
    maxDeliveries: opts.maxDeliveries,
  });
  open.push(tr);
  return tr;
}

t("four transports on separate clients drain 400 jobs with no job delivered twice", async () => {
  const { schema } = await migratedSchema(sql!);
  const ts = Array.from({ length: 4 }, () => transport(schema, { separateClient: true }));
  await ts[0]!.enqueue(Array.from({ length: 400 }, (_, i) => job(i)));
  const seen = new Map<string, number>();
  await Promise.all(
    ts.flatMap((tr, w) =>
      Array.from({ length: 4 }, async () => {
        for (;;) {
          const j = await tr.dequeue({ workerId: `w${w}`, waitMs: 0 });
          if (!j) return;
          seen.set(j.jobId, (seen.get(j.jobId) ?? 0) + 1);
          await tr.complete(j);
        }
      }),
    ),
  );
  assert.is(seen.size, 400);
  assert.equal(
    [...seen.values()].filter((n) => n > 1),
    [],
    "no double delivery",
  );
  assert.is(await ts[0]!.depth(), 0);
});

t("a waiting dequeue wakes on another transport's enqueue (NOTIFY), long before its wait ends", async () => {
  const { schema } = await migratedSchema(sql!);
  const consumer = transport(schema, { separateClient: true });
  const producer = transport(schema, { separateClient: true });
  assert.is(await consumer.dequeue({ workerId: "c", waitMs: 50 }), null); // LISTEN is up
  const started = Date.now();
  const waiting = consumer.dequeue({ workerId: "c", waitMs: 10_000 });
  await producer.enqueue([job(1)]);
  const got = await waiting;
  assert.is(got?.jobId, "run-1:s:1");
  assert.ok(Date.now() - started < 5_000, `woken after ${Date.now() - started} ms`);
});

t("a delayed job is delivered when it falls due, not before", async () => {
  const { schema } = await migratedSchema(sql!);
  const tr = transport(schema);
  const due = new Date(Date.now() + 400);
  await tr.enqueue([job(1, { availableAt: due })]);
  assert.is(await tr.dequeue({ workerId: "w", waitMs: 0 }), null);
  const got = await tr.dequeue({ workerId: "w", waitMs: 5_000 });
  assert.ok(got, "delivered once due");
  assert.ok(Date.now() >= due.getTime(), "not before availableAt");
  assert.equal(got.availableAt, due, "the spec's availableAt is returned unchanged");
});

t("an exhausted job is reported as a dead letter exactly once across transports", async () => {
  const { schema } = await migratedSchema(sql!);
  const a = transport(schema, { leaseMs: 50, maxDeliveries: 1 });
  const b = transport(schema, { leaseMs: 50, maxDeliveries: 1 });
  await a.enqueue([job(1)]);
  const j = await a.dequeue({ workerId: "w", waitMs: 0 });
  assert.ok(j);
  const later = new Date(Date.now() + 1_000);
  const [ra, rb] = await Promise.all([a.releaseStale(later, 0), b.releaseStale(later, 0)]);
  const dead = [...ra.deadLettered, ...rb.deadLettered];
  assert.is(dead.length, 1, "one report in total");
  assert.is(dead[0]!.job.jobId, "run-1:s:1");
  assert.match(dead[0]!.reason, /lease expired on delivery 1 of 1/);
  // The stale holder's late complete is ignored; nothing is redelivered.
  await a.complete(j);
  assert.is(await a.dequeue({ workerId: "w", waitMs: 0 }), null);
});

t("finished job ids are remembered (duplicate enqueues dropped) until purgeFinished", async () => {
  const { schema } = await migratedSchema(sql!);
  const tr = transport(schema);
  await tr.enqueue([job(1)]);
  await tr.complete((await tr.dequeue({ workerId: "w", waitMs: 0 }))!);
  await tr.enqueue([job(1)]);
  assert.is(await tr.dequeue({ workerId: "w", waitMs: 0 }), null, "a late duplicate is dropped");
  assert.is(await tr.purgeFinished(new Date(Date.now() + 1_000)), 1);
  await tr.enqueue([job(1)]);
  assert.is((await tr.dequeue({ workerId: "w", waitMs: 0 }))?.jobId, "run-1:s:1");
});

test.after(async () => {
  for (const tr of open) await tr.close();
  await sql?.end({ timeout: 5 });
  await svc?.stop();
});
test.run();

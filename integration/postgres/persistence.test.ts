// Postgres-specific Persistence behaviour beyond the shared suite: JSON values of every
// top-level kind survive exactly, getRun({ forUpdate }) really locks inside a transaction,
// schemas are isolated from each other, and close() never ends a client it was given.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { createPostgresPersistence } from "../../adapters/postgres/persistence.js";
import { client, migratedSchema, waitFor } from "./helpers.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
const sql = svc ? client(svc.postgres.url) : null;
const now = new Date("2026-05-01T12:00:00.123Z");
const newRun = (id: string, input: unknown) => ({ id, workflowId: "w", input, config: {}, priority: 0, traceContext: null, now });

t("top-level JSON strings, numbers, booleans, null and arrays round-trip as themselves", async () => {
  const { schema } = await migratedSchema(sql!);
  const p = createPostgresPersistence(sql!, { schema });
  const values: unknown[] = ["plain", '{"looks":"like json"}', "", 0, -1.5, 1e21, true, false, null, [], [1, "a", null], { nested: ["x"] }];
  for (const [i, v] of values.entries()) {
    await p.createRun(newRun(`r${i}`, v));
    assert.equal((await p.getRun(`r${i}`))!.input, v, `input ${JSON.stringify(v)}`);
    await p.updateRun(`r${i}`, { output: v }, now);
    assert.equal((await p.getRun(`r${i}`))!.output, v, `output ${JSON.stringify(v)}`);
    await p.upsertStage({
      id: `s${i}`,
      workflowRunId: `r${i}`,
      stageId: "s",
      stageName: "S",
      groupIndex: 0,
      maxAttempts: 1,
      traceContext: null,
      now,
    });
    const st = await p.updateStage(`r${i}`, "s", { output: v, suspendedState: v }, now);
    assert.equal([st!.output, st!.suspendedState], [v, v]);
    await p.completeIdempotencyKey("cmd", `k${i}`, v, now);
    assert.equal(await p.acquireIdempotencyKey("cmd", `k${i}`, now), { kind: "completed", result: v });
  }
  const stored = await sql!.unsafe(`select jsonb_typeof(input) as t from "${schema}".runs where id = 'r0'`);
  assert.is(stored[0]!.t, "string", "stored as a JSON string, not re-encoded text");
});

t("getRun({ forUpdate }) inside a transaction blocks a second locker until the first commits", async () => {
  const { schema } = await migratedSchema(sql!);
  const p = createPostgresPersistence(sql!, { schema });
  await p.createRun(newRun("locked", null));
  const order: string[] = [];
  let releaseFirst!: () => void;
  const firstHolds = new Promise<void>((r) => (releaseFirst = r));
  let firstLocked!: () => void;
  const locked = new Promise<void>((r) => (firstLocked = r));
  const first = p.transaction(async (tx) => {
    await tx.getRun("locked", { forUpdate: true });
    order.push("first locked");
    firstLocked();
    await firstHolds;
    await tx.updateRun("locked", { status: "RUNNING" }, now);
    order.push("first commits");
  });
  await locked;
  const second = p.transaction(async (tx) => {
    const run = await tx.getRun("locked", { forUpdate: true });
    order.push(`second sees ${run!.status}`);
  });
  // The second locker is blocked on the row lock (visible in pg_locks) until the first commits.
  await waitFor(
    "the second transaction to wait on the row lock",
    async () => {
      const w = await sql!`select count(*)::int as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where not l.granted and a.datname = current_database()`;
      return w[0]!.n > 0;
    },
    5_000,
  );
  assert.equal(order, ["first locked"]);
  releaseFirst();
  await Promise.all([first, second]);
  assert.equal(order, ["first locked", "first commits", "second sees RUNNING"]);
});

t("a transaction that throws leaves nothing behind; two schemas never see each other's rows", async () => {
  const a = await migratedSchema(sql!);
  const b = await migratedSchema(sql!);
  const pa = createPostgresPersistence(sql!, { schema: a.schema });
  const pb = createPostgresPersistence(sql!, { schema: b.schema });
  const err = await pa
    .transaction(async (tx) => {
      await tx.createRun(newRun("gone", 1));
      await tx.appendOutbox([
        { id: "o1", kind: "event", workflowRunId: "gone", type: "x", payload: {}, createdAt: now, claimedUntil: null },
      ]);
      throw new Error("boom");
    })
    .then(
      () => null,
      (e: Error) => e.message,
    );
  assert.is(err, "boom");
  assert.is(await pa.getRun("gone"), null);
  assert.equal(await pa.claimOutbox({ now, limit: 10, leaseMs: 1000 }), []);
  await pa.createRun(newRun("only-in-a", 1));
  assert.is(await pb.getRun("only-in-a"), null);
  assert.equal((await pb.countRunsByStatus()).PENDING, 0);
});

t("close() leaves a client it was given open", async () => {
  const { schema } = await migratedSchema(sql!);
  await createPostgresPersistence(sql!, { schema }).close();
  const r = await sql!`select 1 as one`;
  assert.is(r[0]!.one, 1);
});

test.after(async () => {
  await sql?.end({ timeout: 5 });
  await svc?.stop();
});
test.run();

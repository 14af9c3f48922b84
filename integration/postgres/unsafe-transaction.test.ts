// postgres.js 3.4.9 skips reserving a transaction's connection when its BEGIN is pipelined as
// the query that fills a busy connection's pipeline: the driver throws UNSAFE_TRANSACTION and
// the connection keeps serving other statements inside the open transaction (the rare failure
// of ~1,000 concurrent run.create). The persistence admits at most one operation per pooled
// connection, so a BEGIN never meets a busy connection. The test makes every connection busy
// with statements blocked on a row lock, queues more statements behind them, then transactions
// — the exact order that breaks a bare `sql.begin` — and expects every transaction to commit.
import { randomUUID } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import postgres from "postgres";
import { services } from "../harness/index.js";
import { createPostgresPersistence } from "../../adapters/postgres/persistence.js";
import { admissionGate } from "../../adapters/postgres/admission.js";
import { migratedSchema, waitFor } from "./helpers.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
const now = new Date("2026-05-01T12:00:00Z");
const newRun = (id: string) => ({ id, workflowId: "w", input: {}, config: {}, priority: 0, traceContext: null, now });

t("transactions queued behind busy connections never run on an unreserved connection", async () => {
  const admin = postgres(svc!.postgres.url, { max: 2, onnotice: () => {} });
  // A short pipeline (an option postgres.js reads but does not type) puts the boundary where a few queued statements reach it.
  const sql = postgres(svc!.postgres.url, { max: 3, onnotice: () => {}, ...({ max_pipeline: 2 } as object) });
  const { schema, drop } = await migratedSchema(admin);
  const p = createPostgresPersistence(sql, { schema });
  const locked = randomUUID();
  await p.createRun(newRun(locked));
  try {
    for (let round = 0; round < 3; round++) {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let holding!: () => void;
      const held = new Promise<void>((r) => (holding = r));
      const locker = admin.begin(async (tx) => {
        await tx.unsafe(`select 1 from "${schema}".runs where id = $1 for update`, [locked]);
        holding();
        await released;
      });
      await held;
      const settled: string[] = [];
      const track = <T>(pr: Promise<T>) =>
        pr.then(
          () => settled.push("ok"),
          (e: { code?: string; message?: string }) => settled.push(e.code ?? e.message ?? "error"),
        );
      // Every connection blocks on the lock...
      const blocked = Array.from({ length: 3 }, () => track(p.updateRun(locked, { lastActivityAt: now }, now)));
      await waitFor(
        "three statements waiting on the row lock",
        async () => {
          const r = await admin`select count(distinct l.pid)::int as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
            where not l.granted and a.datname = current_database()`;
          return r[0]!.n >= 3 || admissionGate(sql).queued > 0;
        },
        10_000,
      );
      // ...more statements queue behind them, then the transactions.
      const reads = Array.from({ length: 3 }, () => track(p.getRun(locked)));
      await new Promise((r) => setImmediate(r));
      const ids = Array.from({ length: 3 }, () => randomUUID());
      const txs = ids.map((id) => track(p.transaction(async (tx) => void (await tx.createRun(newRun(id))))));
      await new Promise((r) => setImmediate(r));
      release();
      await locker;
      await Promise.all([...blocked, ...reads, ...txs]);
      assert.equal(settled, Array(9).fill("ok"), `round ${round}: ${settled.join(", ")}`);
      for (const id of ids) assert.ok(await p.getRun(id), `round ${round}: run ${id} committed`);
    }
    const stray =
      await admin`select count(*)::int as n from pg_stat_activity where datname = current_database() and state = 'idle in transaction' and pid <> pg_backend_pid()`;
    assert.is(stray[0]!.n, 0, "no connection left inside a transaction");
  } finally {
    await sql.end({ timeout: 5 });
    await drop();
    await admin.end({ timeout: 5 });
  }
});

test.run();

// A transaction whose connection is terminated mid-way rejects with a connection error and the
// process survives (postgres.js 3.4.9 would otherwise crash it writing `rollback` to the dead
// socket); the adapter keeps working on fresh connections; the job transport's waiting dequeue
// still wakes up on new jobs after its LISTEN connection was killed.
import postgres from "postgres";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { createPostgresJobTransport } from "../../adapters/postgres/job-transport.js";
import { createPostgresPersistence } from "../../adapters/postgres/persistence.js";
import { isConnectionError } from "../../adapters/postgres/safe-begin.js";
import { client, migratedSchema, waitFor } from "./helpers.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
const sql = svc ? client(svc.postgres.url) : null;

/** Terminates every backend of the test database except the admin connection's. */
async function terminateAll(): Promise<number> {
  const admin = postgres(svc!.postgres.adminUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await admin`select pg_terminate_backend(pid) as ok from pg_stat_activity
      where datname = ${svc!.postgres.database} and pid <> pg_backend_pid()`;
    return rows.filter((r) => r.ok).length;
  } finally {
    await admin.end({ timeout: 2 });
  }
}

t("a transaction whose connection is killed rejects with a connection error; the process and the adapter survive", async () => {
  const { schema } = await migratedSchema(sql!);
  const p = createPostgresPersistence(sql!, { schema });
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);
  process.on("uncaughtException", onCrash);
  try {
    for (let round = 0; round < 3; round++) {
      const err = await p
        .transaction(async (tx) => {
          await tx.getRun("before");
          await terminateAll();
          // The kernel would wrap or rethrow this; either way no rollback may hit the dead socket.
          await tx.getRun("after");
          return "committed";
        })
        .then(
          () => null,
          (e: unknown) => e,
        );
      assert.ok(err, "the transaction failed");
      assert.ok(isConnectionError(err), `a connection error, got ${String(err)}`);
      // Give any deferred (setImmediate) write a chance to fire, as it did before the fix.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(crashes.map(String), [], "no uncaught exception");
      const created = await waitFor(
        "the pool to serve queries again",
        () =>
          p
            .createRun({ id: `r${round}`, workflowId: "w", input: null, config: {}, priority: 0, traceContext: null, now: new Date() })
            .catch((e: unknown) => {
              if (!isConnectionError(e)) throw e;
              return null;
            }),
        10_000,
      );
      assert.is(created.id, `r${round}`);
    }
  } finally {
    process.off("uncaughtException", onCrash);
  }
});

t("a waiting dequeue still wakes on enqueue after its LISTEN connection was terminated", async () => {
  const { schema } = await migratedSchema(sql!);
  const own = client(svc!.postgres.url, 4);
  const transport = createPostgresJobTransport(own, { schema, pollIntervalMs: 60_000 });
  try {
    // Start LISTEN, then kill every connection (LISTEN included); postgres.js re-listens.
    assert.is(await transport.dequeue({ workerId: "w", waitMs: 50 }), null);
    assert.ok((await terminateAll()) >= 1);
    const job = { jobId: "r:s:1", workflowRunId: "r", workflowId: "w", stageId: "s", attempt: 1, maxAttempts: 3, priority: 0, payload: {} };
    const started = Date.now();
    const waiting = transport.dequeue({ workerId: "w", waitMs: 20_000 }).catch((e: unknown) => e);
    await waitFor(
      "a fresh connection to accept the enqueue",
      () =>
        transport.enqueue([job]).then(
          () => true,
          (e: unknown) => (isConnectionError(e) ? null : Promise.reject(e)),
        ),
      10_000,
    );
    const got = await waiting;
    assert.ok(got && typeof got === "object" && "jobId" in got, `delivered, got ${String(got)}`);
    assert.ok(Date.now() - started < 15_000, "woken by the notification, not by the 60 s poll cap");
  } finally {
    await transport.close();
    await own.end({ timeout: 2 });
  }
});

test.after(async () => {
  await sql?.end({ timeout: 5 });
  await svc?.stop();
});
test.run();

// A transaction whose connection is terminated mid-way rejects with a connection error and the
// process survives (postgres.js 3.4.9 would otherwise crash it writing `rollback` to the dead
// socket); the adapter keeps working on fresh connections; the job transport's waiting dequeue
// still wakes up on new jobs after its LISTEN connection was killed; and no statement in flight
// when its connection dies waits forever (patches/postgres+3.4.9.patch).
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

t("every statement in flight while all connections are killed settles: none waits forever", async () => {
  // postgres.js 3.4.9 left statements handed to a connection between its socket error and its
  // close event pending forever, and prefixed the reconnect's startup with the dead socket's
  // buffered bytes (the server then waits for the rest of that "startup" packet). Unpatched, a
  // host kept heartbeating a job whose settling update never returned. 30 callers on 12
  // connections keep the pool pipelining while every backend is killed, round after round.
  const own = client(svc!.postgres.url, 12);
  const pending = new Map<number, number>();
  let running = true;
  let settled = 0;
  let next = 0;
  const caller = async (i: number) => {
    while (running) {
      const id = next++;
      pending.set(id, Date.now());
      await (i % 2 ? own`select pg_sleep(0.01)` : own`select ${i}::int as i`).then(
        () => settled++,
        (e: unknown) => {
          if (!isConnectionError(e)) throw e;
          settled++;
        },
      );
      pending.delete(id);
    }
  };
  const callers = Array.from({ length: 30 }, (_, i) => caller(i));
  try {
    for (let round = 0; round < 10; round++) {
      const before = settled;
      await waitFor("statements to be answered between kills (none is)", async () => settled >= before + 30, 30_000);
      await terminateAll();
    }
  } finally {
    running = false;
  }
  // The driver's reconnect backs off up to 20 s after repeated errors; 60 s bounds it generously.
  await waitFor("every in-flight statement to settle", async () => pending.size === 0, 60_000).catch((err: Error) => {
    const oldest = Math.min(...pending.values());
    throw new Error(`${err.message}: ${pending.size} statements pending, the oldest for ${Date.now() - oldest} ms`);
  });
  await Promise.all(callers);
  await own.end({ timeout: 2 });
});

test.after(async () => {
  await sql?.end({ timeout: 5 });
  await svc?.stop();
});
test.run();

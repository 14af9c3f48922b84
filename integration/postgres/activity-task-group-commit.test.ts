// Group commit of the activity task store's writes: concurrent writes share transactions, and a
// failing write in a group gets its own error while every other write still commits.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { GroupCommit } from "../../adapters/postgres/activity-task-group-commit.js";
import { client, freshSchema } from "./helpers.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
const sql = svc ? client(svc.postgres.url) : null;

t("concurrent writes share commits; a failing write fails alone and the others of its group are committed", async () => {
  const db = sql!;
  const schema = freshSchema();
  await db.unsafe(`create schema "${schema}"; create table "${schema}".w (k text primary key, n int check (n >= 0))`);
  try {
    const writes = new GroupCommit(db, 1); // one group in flight: everything arriving meanwhile forms the next group
    const table = db(`${schema}.w`);
    const wave = (from: number, bad: number | null) =>
      Promise.allSettled(
        Array.from({ length: 20 }, (_, j) => {
          const i = from + j;
          return writes.run(`k${String(i).padStart(2, "0")}`, async (q) => {
            const [r] =
              await q`insert into ${table} (k, n) values (${`k${i}`}, ${i === bad ? -1 : i}) returning txid_current()::text as tx`;
            return r!.tx as string;
          });
        }),
      );
    const first = await wave(0, null);
    const txs = new Set(first.map((r) => (r.status === "fulfilled" ? r.value : "failed")));
    assert.not.ok(txs.has("failed"));
    assert.ok(txs.size < 20, `20 concurrent writes committed in ${txs.size} transactions`);

    const second = await wave(20, 37);
    const failed = second.flatMap((r, j) => (r.status === "rejected" ? [20 + j] : []));
    assert.equal(failed, [37], "only the write breaking the check fails");
    const err = (second[17] as PromiseRejectedResult).reason as { code?: string };
    assert.is(err.code, "23514", "with its own error (check violation)");
    const rows = await db`select k from ${table} order by k`;
    assert.is(rows.length, 39, "every other write is committed");
  } finally {
    await db.unsafe(`drop schema "${schema}" cascade`);
  }
});

test.after(async () => {
  await sql?.end({ timeout: 5 });
  await svc?.stop();
});
test.run();

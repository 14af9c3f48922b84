// `jetflow migrate`: applies, reports status, is a no-op the second time, and fails clearly.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
const bin = fileURLToPath(new URL("../../bin/jetflow.js", import.meta.url));
// Every shipped migration, so the expectations follow new files (numbers may have gaps while branches land).
const shipped = readdirSync(fileURLToPath(new URL("../../adapters/postgres/migrations", import.meta.url)))
  .filter((f) => /^\d{4}_.+\.sql$/.test(f))
  .sort();

function jetflow(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1", DATABASE_URL: "", ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

t("migrate --status lists pending, migrate applies, the second run is a no-op (DATABASE_URL fallback)", async () => {
  const url = svc!.postgres.url;
  const before = jetflow(["migrate", "--database-url", url, "--schema", "cli_s", "--status"]);
  assert.equal(before.code, 0, before.err);
  assert.match(before.out, /pending\s+0001_init\.sql/);
  assert.match(before.out, /pending\s+0002_task_capability\.sql/);
  assert.match(before.out, /pending\s+0003_task_max_upload_bytes\.sql/);
  assert.match(before.out, /pending\s+0004_task_attempts\.sql/);
  for (const f of shipped) assert.ok(before.out.includes(f), `${f} is listed as pending`);
  assert.match(before.out, new RegExp(`0 applied, ${shipped.length} pending`));

  const first = jetflow(["migrate", "--schema", "cli_s"], { DATABASE_URL: url });
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, new RegExp(`applied ${shipped.map((f) => f.slice(0, 4)).join(", ")}`));
  assert.match(first.out, new RegExp(`${shipped.length} applied, 0 pending`));

  const again = jetflow(["migrate", "--database-url", url, "--schema", "cli_s"]);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /schema is up to date/);
});

t("bad options and unreachable servers exit non-zero with a clear message", async () => {
  const missing = jetflow(["migrate"]);
  assert.not.equal(missing.code, 0);
  assert.match(missing.err, /DATABASE_URL/);

  const badSchema = jetflow(["migrate", "--database-url", svc!.postgres.url, "--schema", "no-dashes"]);
  assert.not.equal(badSchema.code, 0);
  assert.match(badSchema.err, /schema/);

  const down = jetflow(["migrate", "--database-url", "postgres://postgres@127.0.0.1:1/nowhere"]);
  assert.not.equal(down.code, 0);
  assert.match(down.err, /127\.0\.0\.1:1\/nowhere/);
});

test.after(async () => {
  await svc?.stop();
});
test.run();

/**
 * services(): resolves everything a file asks for with one stop(), and when something is
 * missing it skips loudly outside CI and fails in CI. Also: servers die with their process.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { portRefuses, services, useNats, usePostgres } from "../../integration/harness/index.js";

const fixture = "test/fixtures/harness/resolve-or-skip.ts";

/** Runs the fixture with a controlled environment; the harness's env knobs are cleared first. */
function runFixture(env: Record<string, string>, names: string[]) {
  const base = { ...process.env };
  for (const k of ["CI", "JETFLOW_TEST_NATS_URL", "JETFLOW_TEST_DATABASE_URL", "JETFLOW_NATS_SERVER_BIN"]) delete base[k];
  const r = spawnSync(process.execPath, ["--import", "tsx", fixture, ...names], {
    env: { ...base, JETFLOW_TEST_NO_CONTAINERS: "1", ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("services() resolves nats and postgres together and stop() releases both", async () => {
  process.env.JETFLOW_TEST_NO_CONTAINERS = "1";
  const svc = await services(["nats", "postgres"]);
  if (!svc) {
    assert.unreachable("nats-server and Postgres are expected on this machine");
    return;
  }
  const nc = await connect({ servers: svc.nats.url, reconnect: false });
  await nc.close();
  const sql = postgres(svc.postgres.url, { max: 1 });
  await sql`select 1`;
  await sql.end();
  await svc.stop();
  if (svc.nats.source === "local") assert.ok(await portRefuses("127.0.0.1", Number(new URL(svc.nats.url).port)));
  const admin = postgres(svc.postgres.adminUrl, { max: 1 });
  const rows = await admin`select 1 from pg_database where datname = ${svc.postgres.database}`;
  await admin.end();
  assert.is(rows.length, 0, "database dropped by stop()");
});

test("outside CI an unavailable service returns null and prints what was tried and how to fix it", () => {
  const r = runFixture({ JETFLOW_NATS_SERVER_BIN: "/nonexistent/nats-server" }, ["nats"]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /"resolved":null/);
  assert.match(r.stderr, /SKIPPING integration tests/);
  assert.match(r.stderr, /JETFLOW_TEST_NATS_URL: not set/);
  assert.match(r.stderr, /\/nonexistent\/nats-server/);
  assert.match(r.stderr, /apt-get install -y nats-server/);
});

test("in CI an unavailable service is a failure, not a skip", () => {
  const r = runFixture({ CI: "true", JETFLOW_NATS_SERVER_BIN: "/nonexistent/nats-server" }, ["nats"]);
  assert.is.not(r.code, 0);
  assert.not.match(r.stdout, /resolved/);
  assert.match(r.stderr, /nats is unavailable/);
});

test("a process that exits without stop() leaves no server behind", () => {
  const probe = `
    import { useNats } from "./integration/harness/index.js";
    const s = await useNats();
    console.log(JSON.stringify({ url: s.url }));
    process.exit(0);`;
  const base = { ...process.env };
  delete base.JETFLOW_TEST_NATS_URL;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", probe], {
    env: { ...base, JETFLOW_TEST_NO_CONTAINERS: "1" },
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.is(r.status, 0, r.stderr);
  const { url } = JSON.parse(r.stdout.trim()) as { url: string };
  return portRefuses("127.0.0.1", Number(new URL(url).port)).then((refused) => assert.ok(refused, "exit hook must kill nats-server"));
});

test("SIGTERM to a test process takes its servers down with it", async () => {
  const probe = `
    import { useNats } from "./integration/harness/index.js";
    const s = await useNats();
    console.log(JSON.stringify({ url: s.url }));
    setInterval(() => {}, 1000);`;
  const base = { ...process.env };
  delete base.JETFLOW_TEST_NATS_URL;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", probe], {
    env: { ...base, JETFLOW_TEST_NO_CONTAINERS: "1" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = (await once(child.stdout!, "data", { signal: AbortSignal.timeout(30_000) })) as [Buffer];
  const { url } = JSON.parse(line.toString().trim()) as { url: string };
  child.kill("SIGTERM");
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  assert.is(signal, "SIGTERM", `the process still dies of SIGTERM (code ${code})`);
  assert.ok(await portRefuses("127.0.0.1", Number(new URL(url).port)), "nats-server must be gone");
});

test("leftovers of a SIGKILLed test process are cleaned up by the next harness call", async () => {
  const probe = `
    import { useNats, usePostgres } from "./integration/harness/index.js";
    const [n, p] = await Promise.all([useNats(), usePostgres()]);
    console.log(JSON.stringify({ url: n.url, adminUrl: p.adminUrl, database: p.database }));
    setInterval(() => {}, 1000);`;
  const base = { ...process.env };
  delete base.JETFLOW_TEST_NATS_URL;
  delete base.JETFLOW_TEST_DATABASE_URL;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", probe], {
    env: { ...base, JETFLOW_TEST_NO_CONTAINERS: "1" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = (await once(child.stdout!, "data", { signal: AbortSignal.timeout(30_000) })) as [Buffer];
  const left = JSON.parse(line.toString().trim()) as { url: string; adminUrl: string; database: string };
  child.kill("SIGKILL"); // no exit hook can run
  await once(child, "exit");
  const port = Number(new URL(left.url).port);
  assert.not.ok(await portRefuses("127.0.0.1", port), "the orphaned server is still up before the sweep");

  const [n, p] = await Promise.all([useNats(), usePostgres()]);
  await Promise.all([n.stop(), p.stop()]);
  assert.ok(await portRefuses("127.0.0.1", port), "the sweep killed the orphaned nats-server");
  const admin = postgres(left.adminUrl, { max: 1 });
  const rows = await admin`select 1 from pg_database where datname = ${left.database}`;
  await admin.end();
  assert.is(rows.length, 0, "the sweep dropped the orphaned database");
});

test.run();

// test-file-timeout-ms: 300000
// How the CLI fails when something around it is missing, as a user meets it: an unreachable
// OpenTelemetry collector changes neither the exit code nor the exit time; an orchestrator whose
// Postgres or NATS is unreachable exits 1 at once naming the server; "no responders" says no
// orchestrator serves the subject; migrate names its flag and the variables it reads.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { join, resolve } from "node:path";
import { freePort, services } from "../harness/index.js";
import { deployment, runCli, startOrchestratorProcess, until, writeDeployment, type OrchestratorProcess } from "./support.js";

const root = resolve(import.meta.dirname, "..", "..");
const svc = await services(["nats", "postgres"]);
const t = svc ? test : test.skip;
const dirs: string[] = [];
let orchestrator: OrchestratorProcess | undefined;

test.after(async () => {
  await orchestrator?.kill9();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await svc?.stop();
});

const cliEnv = (extra: NodeJS.ProcessEnv = {}) => ({ ...process.env, JETFLOW_CLI_FROM_SOURCE: "1", NO_COLOR: "1", ...extra });

/** `jetflow orchestrator` on a config, until it exits (bounded): exit code, output, seconds taken. */
async function orchestratorExit(config: Record<string, unknown>, timeoutMs = 40_000) {
  const d = writeDeployment("jetflow-cli-fail-", { workflows: join(root, "integration/orchestrator/fixtures/workflows.ts"), ...config });
  dirs.push(d.dir);
  const started = Date.now();
  const r = await runCli(["orchestrator", "--config", d.configFile], cliEnv(), timeoutMs);
  return { ...r, seconds: (Date.now() - started) / 1000 };
}

t("runs create --wait exits 0 within 1 s of its output when the OTLP collector is unreachable", async () => {
  const d = deployment({ natsUrl: svc!.nats.url, databaseUrl: svc!.postgres.url });
  dirs.push(d.dir);
  orchestrator = await startOrchestratorProcess(d, 60_000);
  const deadPort = await freePort();
  const child = spawn(
    process.execPath,
    [join(root, "bin/jetflow.js"), "runs", "create", "greet", "--input", '{"name":"otel"}', "--wait", "--json", "-s", svc!.nats.url],
    {
      env: cliEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${deadPort}`, OTEL_METRIC_EXPORT_INTERVAL: "200" }),
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  let outputAt = 0;
  child.stdout.on("data", (c) => {
    stdout += c;
    if (stdout.includes('"status": "COMPLETED"')) outputAt ||= Date.now();
  });
  child.stderr.on("data", (c) => (stderr += c));
  const code = await new Promise<number | null>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`runs create did not exit in 60 s\n${stdout}\n${stderr}`)), 60_000);
    child.on("close", (c) => {
      clearTimeout(timer);
      res(c);
    });
  });
  const lag = Date.now() - outputAt;
  assert.is(code, 0, `${stdout}\n${stderr}`);
  assert.ok(outputAt > 0, stdout);
  assert.ok(lag < 1_500, `exited ${lag} ms after printing the result`);
  assert.not.match(stderr, /Uncaught|unhandled/i);
});

t("runs create takes stage config as --stage-config; -c/--config still works, with a deprecation warning", async () => {
  assert.ok(orchestrator, "started by the previous test");
  const base = ["runs", "create", "greet", "--input", '{"name":"cfg"}', "-s", svc!.nats.url];
  const current = await runCli([...base, "--stage-config", '{"greet":{}}', "--wait"], cliEnv());
  assert.is(current.code, 0, current.stderr);
  assert.not.match(current.stderr, /deprecated/);
  const old = await runCli([...base, "-c", '{"greet":{}}', "-k", "old-spelling"], cliEnv());
  assert.is(old.code, 0, old.stderr);
  assert.match(old.stderr, /`runs create -c\/--config` is deprecated, use --stage-config/);
  const both = await runCli([...base, "-c", "{}", "--stage-config", "{}"], cliEnv());
  assert.is(both.code, 1);
  assert.match(both.stderr, /give --stage-config only/);
});

t("the orchestrator runs from flags alone, named as in every other command", async () => {
  await orchestrator?.stop();
  const child = spawn(
    process.execPath,
    [
      join(root, "bin/jetflow.js"),
      "orchestrator",
      "--workflows",
      "integration/orchestrator/fixtures/workflows.ts",
      "--database-url",
      svc!.postgres.url,
      "--servers",
      svc!.nats.url,
      "--migrate",
      "--log-level",
      "info",
    ],
    { cwd: root, env: cliEnv(), stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stderr.on("data", (c) => (log += c));
  const exited = new Promise<number | null>((r) => child.on("exit", r));
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`not started in 60 s:\n${log}`)), 60_000);
    child.stderr.on("data", () => log.includes("orchestrator started") && (clearTimeout(timer), res()));
    void exited.then((c) => (clearTimeout(timer), rej(new Error(`exited ${c}:\n${log}`))));
  });
  const r = await runCli(["runs", "create", "greet", "--input", '{"name":"flags"}', "--wait", "-s", svc!.nats.url], cliEnv());
  assert.is(r.code, 0, r.stderr);
  child.kill("SIGTERM");
  assert.is(await exited, 0);
});

t("no responders: says no orchestrator serves the subject and how to start one", async () => {
  const r = await runCli(["runs", "get", "some-run", "-s", svc!.nats.url, "--prefix", "nobodyhome"], cliEnv());
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /no orchestrator is serving nobodyhome\.api\.runs\.get/);
  assert.match(r.stderr, /jetflow orchestrator --config/);
});

t("an unreachable NATS server is named by every client command", async () => {
  const url = `nats://127.0.0.1:${await freePort()}`;
  const r = await runCli(["runs", "list", "-s", url], cliEnv());
  assert.is(r.code, 1);
  assert.match(r.stderr, new RegExp(`cannot connect to NATS at ${url}`));
});

t("the orchestrator exits 1 at once, naming the server, when its database does not exist", async () => {
  const u = new URL(svc!.postgres.url);
  u.pathname = "/jetflow_no_such_db";
  const r = await orchestratorExit({ database: { url: u.href, migrate: true }, nats: { servers: svc!.nats.url } });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`cannot use Postgres at ${u.hostname}:${u.port}/jetflow_no_such_db: .*does not exist`));
  assert.match(r.stderr, /createdb/);
  assert.not.match(r.stderr, /orchestrator started/);
  assert.ok(r.seconds < 20, `${r.seconds} s`);
});

t("the orchestrator exits 1 when Postgres does not answer, or has no jetflow schema and no --migrate", async () => {
  const port = await freePort();
  const refused = await orchestratorExit({
    database: { url: `postgres://postgres@127.0.0.1:${port}/x` },
    nats: { servers: svc!.nats.url },
  });
  assert.is(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`cannot use Postgres at 127\\.0\\.0\\.1:${port}/x`));
  const unmigrated = await orchestratorExit({
    database: { url: svc!.postgres.url, schema: "never_migrated" },
    nats: { servers: svc!.nats.url },
  });
  assert.is(unmigrated.code, 1);
  assert.match(unmigrated.stderr, /no jetflow schema "never_migrated": run `jetflow migrate` first, or start with --migrate/);
});

t("the orchestrator exits 1 at once, naming the server, when NATS is unreachable", async () => {
  const url = `nats://127.0.0.1:${await freePort()}`;
  const r = await orchestratorExit({ database: { url: svc!.postgres.url, migrate: true }, nats: { servers: url } });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`cannot connect to NATS at ${url}`));
  assert.not.match(r.stderr, /orchestrator started/);
  assert.ok(r.seconds < 20, `${r.seconds} s`);
});

t("Postgres lost after the start: the orchestrator logs that it is degraded, naming the database", async () => {
  // A TCP proxy to Postgres that the test can cut, as a network partition would.
  const target = new URL(svc!.postgres.url);
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => s.destroy());
      s.on("close", () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((r) => proxy.listen(port, "127.0.0.1", r));
  const viaProxy = new URL(svc!.postgres.url);
  viaProxy.hostname = "127.0.0.1";
  viaProxy.port = String(port);
  const d = writeDeployment("jetflow-cli-fail-", {
    workflows: join(root, "integration/orchestrator/fixtures/workflows.ts"),
    database: { url: viaProxy.href, migrate: true },
    nats: { servers: svc!.nats.url },
    logLevel: "info",
  });
  dirs.push(d.dir);
  const o = await startOrchestratorProcess(d, 60_000);
  try {
    proxy.close();
    for (const s of sockets) s.destroy();
    const line = await until(
      "the orchestrator to log that it is degraded",
      async () =>
        o
          .log()
          .split("\n")
          .find((l) => l.includes("orchestrator degraded")),
      60_000,
      200,
    );
    assert.match(line, /database (?!ok)/);
    assert.match(line, /nats connected/);
  } finally {
    await o.kill9();
    proxy.close();
  }
});

t("migrate names its flag and reads JETFLOW_DATABASE_URL, then DATABASE_URL", async () => {
  const env: NodeJS.ProcessEnv = cliEnv();
  delete env.JETFLOW_DATABASE_URL;
  delete env.DATABASE_URL;
  const missing = await runCli(["migrate", "--status"], env);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /--database-url: required: pass --database-url <url> or set JETFLOW_DATABASE_URL \(or DATABASE_URL\)/);
  const viaJetflowVar = await runCli(["migrate"], {
    ...env,
    JETFLOW_DATABASE_URL: svc!.postgres.url,
    DATABASE_URL: "postgres://nobody@127.0.0.1:1/x",
  });
  assert.is(viaJetflowVar.code, 0, viaJetflowVar.stderr);
  assert.match(viaJetflowVar.stdout, /0 pending/);
});

test.run();

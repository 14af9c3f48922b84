// test-file-timeout-ms: 300000
// `jetflow dev` as documented: it starts the whole stack, a run submitted from another process
// with the printed settings completes and shows in the printed web console, and SIGINT stops everything (no process, no port left).
// Without nats-server on PATH it prints how to install one and exits 1.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { alive, killGroup, listening, natsOrSkip, root, start, type Proc } from "./processes.js";

const dir = mkdtempSync(join(tmpdir(), "jetflow-dev-test-"));
// As root the embedded Postgres runs as user postgres, which must be able to enter the state directory.
chmodSync(dir, 0o755);
const bin = join(root, "bin/jetflow.js");
let dev: Proc | undefined;
const cleanEnv: NodeJS.ProcessEnv = { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1" };
for (const k of ["NATS_URL", "JETFLOW_NATS_URL", "JETFLOW_NATS_CREDS", "DATABASE_URL", "JETFLOW_DATABASE_URL", "JETFLOW_NATS_SERVER_BIN"])
  delete cleanEnv[k];

test.after(() => {
  killGroup(dev);
  rmSync(dir, { recursive: true, force: true });
});

const t = natsOrSkip("integration/dev/dev") ? test : test.skip;

t("jetflow dev starts the stack; runs create --wait from another process completes; SIGINT leaves no process or port", async () => {
  dev = start(
    process.execPath,
    [bin, "dev", "--nats-port", "0", "--postgres-port", "0", "--s3-port", "0", "--health-port", "0", "--console-port", "0"],
    {
      cwd: dir,
      env: cleanEnv,
    },
  );
  const banner = await dev.waitFor("npx jetflow stats", 180_000);
  const natsUrl = /JETFLOW_NATS_URL=(nats:\/\/127\.0\.0\.1:(\d+))/.exec(banner)!;
  const creds = /JETFLOW_NATS_CREDS=(\S+)/.exec(banner)![1]!;
  const workerPid = Number(/dev-worker-1 \(pid (\d+)/.exec(banner)![1]);
  const ports = [
    Number(natsUrl[2]),
    Number(/Postgres\s+postgres:\/\/postgres@127\.0\.0\.1:(\d+)/.exec(banner)![1]),
    Number(/S3\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(banner)![1]),
    Number(/health\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(banner)![1]),
    Number(/console\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(banner)![1]),
  ];
  const natsPid = Number(readFileSync(join(dir, ".jetflow/nats/nats-server.pid"), "utf8"));
  const pgPid = Number(readFileSync(join(dir, ".jetflow/postgres/data/postmaster.pid"), "utf8").split("\n")[0]);

  // The printed "try next" command, from another process, with the printed environment.
  const run = spawnSync(
    process.execPath,
    [bin, "runs", "create", "document-report", "--input", '{"documentId":"durable-execution"}', "--wait"],
    { cwd: dir, env: { ...cleanEnv, JETFLOW_NATS_URL: natsUrl[1], JETFLOW_NATS_CREDS: creds }, encoding: "utf8", timeout: 120_000 },
  );
  assert.is(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /workflow:completed/);
  assert.match(run.stdout, /"word-stats": "dev-worker-1"/);
  // The printed console lists the run, completed.
  const runId = /run (\S+) submitted/.exec(run.stdout)?.[1];
  assert.ok(runId, run.stdout);
  const list = await fetch(`http://127.0.0.1:${ports[4]}/runs?workflow=document-report`, { signal: AbortSignal.timeout(30_000) });
  const page = await list.text();
  assert.is(list.status, 200, page);
  assert.match(page, new RegExp(`data-run-id="${runId}"[\\s\\S]*?data-status="COMPLETED"`));

  for (const pid of [workerPid, natsPid, pgPid]) assert.ok(alive(pid), `pid ${pid} runs before SIGINT`);
  process.kill(dev.child.pid!, "SIGINT");
  const { code } = await Promise.race([
    dev.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit 60 s after SIGINT:\n${dev!.output()}`)), 60_000).unref()),
  ]);
  assert.is(code, 0, dev.output());
  assert.match(dev.output(), /jetflow dev: stopped/);
  for (const pid of [workerPid, natsPid, pgPid]) assert.not.ok(alive(pid), `pid ${pid} still runs after SIGINT`);
  for (const port of ports) assert.not.ok(await listening(port), `port ${port} still listens after SIGINT`);
});

test("without nats-server on PATH (and no NATS_URL) jetflow dev prints how to install it and exits 1", async () => {
  const pathDir = mkdtempSync(join(dir, "path-"));
  symlinkSync(process.execPath, join(pathDir, "node"));
  const r = spawnSync(
    process.execPath,
    [bin, "dev", "--dir", join(dir, "no-nats"), "--s3-port", "0", "--database-url", "postgres://127.0.0.1:1/none"],
    {
      cwd: dir,
      env: { ...cleanEnv, PATH: pathDir },
      encoding: "utf8",
      timeout: 120_000,
    },
  );
  const out = `${r.stdout}\n${r.stderr}`;
  assert.is(r.status, 1, out);
  assert.match(out, /apt-get install -y nats-server/);
  assert.match(out, /brew install nats-server/);
  assert.match(out, /nats-server\/releases/);
  assert.match(out, /--nats-url/);
});

test.run();

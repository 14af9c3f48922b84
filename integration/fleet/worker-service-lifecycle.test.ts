// Worker-service lifecycle with a real `jetflow worker-service serve` process on a real nats-server:
// a repeated start returns the running project, `restart` starts a new generation that runs the
// next task, and a module that throws while loading is restarted with a growing backoff, then
// marked failed after the crash limit with its error and stack in its status and in the CLI.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { startOrchestrator, until, type Orchestrator } from "../remote/helpers.js";
import { spec } from "../../test/remote/helpers/fixture.js";
import { workerServiceSubject, type WsOp } from "../../src/contract/worker-service.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const bin = fileURLToPath(new URL("../../bin/jetflow.js", import.meta.url));
const good = fileURLToPath(new URL("./fixtures/ws-good.ts", import.meta.url));
const crashing = fileURLToPath(new URL("./fixtures/ws-crash-at-load.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "jetflow-ws-life-"));
const markers = join(dir, "loads.txt");
writeFileSync(markers, "");
const topology = freshTopology();
const SERVICE = "life1";
const BASE_MS = 400;
const env = { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1", NO_COLOR: "1", JETFLOW_TEST_MARKERS: markers };

let child: ChildProcess | null = null;
let log = "";
let nc: NatsConnection;
let orch: Orchestrator;

test.before(async () => {
  if (!svc) return;
  orch = await startOrchestrator({ url: svc.nats.url, topology, queue: "life", codeVersion: "v1", leaseMs: 5_000 });
  nc = await connect({ servers: svc.nats.url });
  child = spawn(
    process.execPath,
    [
      bin,
      "worker-service",
      "serve",
      ...["--service-id", SERVICE, "--servers", svc.nats.url, "--prefix", topology.prefix, "--stream-prefix", topology.streamPrefix],
      ...["--restart-base-ms", String(BASE_MS), "--restart-max-ms", "5000", "--crash-limit", "3", "--crash-window-ms", "60000"],
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout!.on("data", (c: Buffer) => (log += c));
  child.stderr!.on("data", (c: Buffer) => (log += c));
  await until(() => log.includes('"worker service ready"') || child!.exitCode !== null, 30_000, "the worker service to start");
  assert.ok(log.includes('"worker service ready"'), log);
});

test.after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child!.once("exit", r));
    child.kill("SIGTERM");
    const hard = setTimeout(() => child?.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(hard);
  }
  await nc?.close();
  await orch?.close();
  await svc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function call(op: WsOp, body: unknown): Promise<{ status: number; body: any }> {
  const m = await nc.request(workerServiceSubject(topology.prefix, SERVICE, op), JSON.stringify(body), { timeout: 20_000 });
  const code = m.headers?.get("Nats-Service-Error-Code");
  return { status: code ? Number(code) : 200, body: JSON.parse(m.string()) };
}

function jetflow(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const all = [...args, "--service-id", SERVICE, "--servers", svc!.nats.url, "--prefix", topology.prefix];
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...all], { env, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function runTask(n: number) {
  const taskId = await orch.broker.submit(spec({ queue: "life", codeVersion: "v1", workflowRunId: `run-life-${n}`, input: { n } }));
  return orch.broker.waitForOutcome(taskId, { timeoutMs: 20_000 });
}

t("a repeated start returns the running project; restart starts a new generation that runs the next task", async () => {
  const first = await call("start", { project: "good", queue: "life", module: good });
  assert.is(first.status, 200, JSON.stringify(first.body));
  assert.is(first.body.restarts, 0);
  assert.is(first.body.lastError, null);
  const again = await call("start", { project: "good", queue: "life", module: good });
  assert.is(again.status, 200, JSON.stringify(again.body));
  assert.equal([again.body.workerId, again.body.startedAt], [first.body.workerId, first.body.startedAt], "the same running worker");
  const other = await call("start", { project: "good", queue: "elsewhere", module: good });
  assert.is(other.status, 409);
  assert.match(other.body.error.message, /already running with queue "life"/);

  const before = await runTask(1);
  assert.equal([before?.output, before?.workerId], [{ r: 2 }, `${SERVICE}-good-g1`]);

  const restarted = await jetflow("worker-service", "restart", "good", "--json");
  assert.is(restarted.code, 0, restarted.stderr);
  const st = JSON.parse(restarted.stdout)[0];
  assert.equal([st.status, st.generation, st.completed], ["running", 2, 1], restarted.stdout);
  const after = await runTask(2);
  assert.equal([after?.output, after?.workerId], [{ r: 3 }, `${SERVICE}-good-g2`], "the restarted generation runs it");
  assert.is((await call("restart", { project: "nope" })).status, 404);
});

t("a module that throws at load is restarted with backoff, then failed after the crash limit with its error", async () => {
  const started = await call("start", { project: "crashy", queue: "crashq", module: crashing });
  assert.is(started.status, 200, "accepted: a crash at load is retried, not refused");
  assert.is(started.body.status, "restarting");
  assert.match(started.body.lastError.message, /boom at load/);
  assert.ok(started.body.nextRestartAt, "the next restart is scheduled");

  let seen: any = null;
  await until(
    async () => {
      seen = (await call("status", { project: "crashy" })).body;
      return seen.status === "restarting" && seen.restarts >= 1;
    },
    20_000,
    "a restart that crashed again",
  );
  assert.match(seen.lastError.message, /boom at load/, "while restarting, the record shows the last error");

  await until(async () => (seen = (await call("status", { project: "crashy" })).body).status === "failed", 30_000, "status failed");
  assert.is(seen.restarts, 2, "3 crashes (the limit): the first load and two restarts");
  assert.is(seen.nextRestartAt, null);
  assert.match(seen.lastError.message, /boom at load: the config service is unreachable/);
  assert.match(seen.lastError.stack, /ws-crash-at-load\.ts/, "the module's own stack");

  const loads = readFileSync(markers, "utf8").trim().split("\n").map(Number);
  assert.is(loads.length, 3, "loaded once per attempt, no more after failed");
  assert.ok(loads[1]! - loads[0]! >= BASE_MS - 20, `first restart after >= ${BASE_MS} ms (${loads[1]! - loads[0]!})`);
  assert.ok(loads[2]! - loads[1]! >= 2 * BASE_MS - 20, `second restart after >= ${2 * BASE_MS} ms (${loads[2]! - loads[1]!})`);

  const list = await jetflow("worker-service", "list");
  assert.is(list.code, 0, list.stderr);
  assert.match(list.stdout, /crashy\s+crashq\s+\S*\s*1\s+failed\s+2\s.*boom at load/, list.stdout);
  assert.match(list.stdout, /good\s+life\s+v1\s+2\s+running\s+0/, list.stdout);

  // Starting a failed project again starts it afresh: a new crash loop, counted from zero.
  const again = await call("start", { project: "crashy", queue: "crashq", module: crashing });
  assert.equal([again.status, again.body.status, again.body.restarts], [200, "restarting", 0]);
  await call("stop", { project: "crashy" });
});

test.run();

// The worker service on a real nats-server: projects started and stopped by request, each
// project's worker sees only its own queue, a changed module file is hot-reloaded while an
// in-flight task finishes on the old code, a module declaring another version is refused, and a
// repeated start returns the running project.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { startOrchestrator, until, type Orchestrator } from "../remote/helpers.js";
import { spec } from "../../test/remote/helpers/fixture.js";
import { startWorkerService, type WorkerService } from "../../worker-sdk/worker-service.js";
import { workerServiceSubject, type WsOp } from "../../src/contract/worker-service.js";
import { ensureWorkerRegistry, listWorkers } from "../../adapters/jetstream/fleet/index.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const fixtureUrl = new URL("../../test/remote/helpers/fixture.ts", import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), "jetflow-ws-"));
const topology = freshTopology();

type Seen = { code: string; n: number };
const g = globalThis as unknown as { __wsSeen: Seen[]; __wsHold: Promise<void> };
g.__wsSeen = [];
let release!: () => void;
g.__wsHold = new Promise<void>((r) => (release = r));

let mtime = Date.now() / 1000;
/** Writes an activity module whose stage adds `add` to n and records `code`; n = 7 waits for the test. */
function writeModule(file: string, code: string, add: number, version = "v1"): string {
  const path = join(dir, file);
  writeFileSync(
    path,
    `import { stage } from ${JSON.stringify(fixtureUrl)};
export const version = ${JSON.stringify(version)};
export const stages = [stage("heavy", async (ctx) => {
  globalThis.__wsSeen.push({ code: ${JSON.stringify(code)}, n: ctx.input.n });
  if (ctx.input.n === 7) await globalThis.__wsHold;
  return { output: { r: ctx.input.n + ${add} } };
})];
`,
  );
  mtime += 10; // a distinct mtime per write, even within one clock tick
  utimesSync(path, mtime, mtime);
  return path;
}

let orchA: Orchestrator;
let orchB: Orchestrator;
let nc: NatsConnection;
let ws: WorkerService;

test.before(async () => {
  if (!svc) return;
  orchA = await startOrchestrator({ url: svc.nats.url, topology, queue: "proj-a", codeVersion: "v1", leaseMs: 5_000 });
  orchB = await startOrchestrator({ url: svc.nats.url, topology, queue: "proj-b", codeVersion: "v1", leaseMs: 5_000 });
  nc = await connect({ servers: svc.nats.url });
  await ensureWorkerRegistry(orchA.nc, { prefix: topology.prefix, storage: "memory" });
  // Inline: the stages report to this test through globalThis, which an activity thread does not share.
  ws = await startWorkerService({
    nc,
    serviceId: "svc1",
    topology,
    watchIntervalMs: 50,
    pollWaitMs: 300,
    heartbeatIntervalMs: 500,
    isolation: "inline",
  });
});
test.after(async () => {
  release?.();
  await ws?.stop();
  await nc?.close();
  await orchA?.close();
  await orchB?.close();
  await svc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** One request to the service; error replies come back as `{ error }` with the header code. */
async function call(op: WsOp, body: unknown): Promise<{ status: number; body: any }> {
  const m = await nc.request(workerServiceSubject(topology.prefix, "svc1", op), JSON.stringify(body), { timeout: 10_000 });
  const code = m.headers?.get("Nats-Service-Error-Code");
  return { status: code ? Number(code) : 200, body: JSON.parse(m.string()) };
}

async function run(orch: Orchestrator, queue: string, n: number) {
  const taskId = await orch.broker.submit(spec({ queue, codeVersion: "v1", workflowRunId: `run-${queue}-${n}`, input: { n } }));
  return { taskId, outcome: () => orch.broker.waitForOutcome(taskId, { timeoutMs: 15_000 }) };
}

t("projects start by request, are listed, see only their own queue, and stop by request", async () => {
  const a = await call("start", { project: "a", queue: "proj-a", module: writeModule("a.mjs", "A1", 1) });
  assert.is(a.status, 200, JSON.stringify(a.body));
  assert.is(a.body.codeVersion, "v1", "taken from the module's declared version");
  const b = await call("start", { project: "b", queue: "proj-b", module: writeModule("b.mjs", "B", 100), concurrency: 2 });
  assert.is(b.status, 200, JSON.stringify(b.body));
  const list = await call("list", {});
  assert.equal(list.body.projects.map((p: any) => [p.project, p.queue, p.codeVersion, p.capacity]).sort(), [
    ["a", "proj-a", "v1", 1],
    ["b", "proj-b", "v1", 2],
  ]);

  await until(
    async () => (await listWorkers(orchA.nc, { prefix: topology.prefix })).filter((w) => w.status === "running").length === 2,
    10_000,
    "both project workers in the fleet registry",
  );
  const fleet = await listWorkers(orchA.nc, { prefix: topology.prefix });
  assert.equal(fleet.map((w) => [w.id, w.queue, w.maxConcurrentTasks]).sort(), [
    ["svc1-a-g1", "proj-a", 1],
    ["svc1-b-g1", "proj-b", 2],
  ]);

  const runs = [await run(orchA, "proj-a", 1), await run(orchB, "proj-b", 2), await run(orchA, "proj-a", 3), await run(orchB, "proj-b", 4)];
  const outs = await Promise.all(runs.map((r) => r.outcome()));
  assert.equal(
    outs.map((o) => o?.output),
    [{ r: 2 }, { r: 102 }, { r: 4 }, { r: 104 }],
  );
  assert.equal(
    outs.map((o) => o?.workerId),
    ["svc1-a-g1", "svc1-b-g1", "svc1-a-g1", "svc1-b-g1"],
  );
  assert.equal(
    g.__wsSeen
      .filter((s) => s.code === "A1")
      .map((s) => s.n)
      .sort(),
    [1, 3],
    "A's code saw only A's tasks",
  );
  assert.equal(
    g.__wsSeen
      .filter((s) => s.code === "B")
      .map((s) => s.n)
      .sort(),
    [2, 4],
    "B's code saw only B's tasks",
  );

  const stopped = await call("stop", { project: "b" });
  assert.is(stopped.body.status, "stopped");
  assert.is(stopped.body.completed, 2);
  assert.equal(
    (await call("list", {})).body.projects.map((p: any) => p.project),
    ["a"],
  );
  assert.is((await call("status", { project: "b" })).status, 404);
});

t("a changed module is reloaded: new tasks run the new code, the in-flight one finishes on the old", async () => {
  const held = await run(orchA, "proj-a", 7);
  await until(() => g.__wsSeen.some((s) => s.code === "A1" && s.n === 7), 10_000, "task 7 to start on the old code");
  writeModule("a.mjs", "A2", 2);
  await until(async () => (await call("status", { project: "a" })).body.generation === 2, 10_000, "generation 2");
  const st = (await call("status", { project: "a" })).body;
  assert.is(st.inFlight, 1, "the old generation still holds task 7");
  const fresh = await (await run(orchA, "proj-a", 8)).outcome();
  assert.equal(fresh?.output, { r: 10 }, "the new code");
  assert.is(fresh?.workerId, "svc1-a-g2");
  release();
  const old = await held.outcome();
  assert.equal(old?.output, { r: 8 }, "the old code finished its task");
  assert.is(old?.workerId, "svc1-a-g1");
});

t("a module declaring another version is refused (old code keeps running); bad requests get error replies", async () => {
  writeModule("a.mjs", "A3", 3, "v2");
  await until(async () => (await call("status", { project: "a" })).body.lastReloadError !== null, 10_000, "the refused reload");
  const st = (await call("status", { project: "a" })).body;
  assert.match(st.lastReloadError, /"v2".*"v1"/);
  assert.is(st.generation, 2);
  assert.equal((await (await run(orchA, "proj-a", 9)).outcome())?.output, { r: 11 }, "still the v1 code");

  const clash = await call("start", { project: "a-next", queue: "proj-a", module: join(dir, "a.mjs") });
  assert.is(clash.status, 409, "a second version on the same queue");
  assert.match(clash.body.error.message, /already runs version "v1"/);
  const again = await call("start", { project: "a", queue: "proj-a", module: join(dir, "a.mjs") });
  assert.is(again.status, 200, "the same start again returns the running project");
  assert.is(again.body.generation, 2);
  const other = await call("start", { project: "a", queue: "proj-b", module: join(dir, "a.mjs") });
  assert.is(other.status, 409, "the same project with another queue");
  assert.match(other.body.error.message, /already running with queue "proj-a"/);
  const missing = await call("start", { project: "c", queue: "q", module: join(dir, "missing.mjs") });
  assert.is(missing.status, 400);
  assert.match(missing.body.error.message, /missing\.mjs/);
  assert.is((await call("start", { project: "bad name!", queue: "q", module: "x" })).status, 400);
  const raw = await nc.request(workerServiceSubject(topology.prefix, "svc1", "start"), "{not json", { timeout: 5_000 });
  assert.is(raw.headers?.get("Nats-Service-Error-Code"), "400");
  assert.is((await call("list", {})).body.projects.length, 1, "the service kept serving");
});

test.run();

// test-file-timeout-ms: 300000
// Placement across real `jetflow worker-service serve --placement` processes on a real nats-server:
// the desired state written with `jetflow projects set` is shared out by leases so each project runs
// its replica count spread across services; labels restrict where a project lands; a kill -9 moves
// a service's projects to another once their leases lapse; more replicas start on another
// service; a graceful stop releases its claims at once. The tests run in order on one set of
// services (each step starts from the state the previous one left, as a real fleet would).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { startOrchestrator, type Orchestrator } from "../remote/helpers.js";
import { spec } from "../../test/remote/helpers/fixture.js";
import { WsListReply, WsProjectStatus, workerServiceSubject } from "../../src/contract/worker-service.js";
import { Kvm } from "@nats-io/kv";
import { claimKey, placementBucket } from "../../src/contract/placement.js";
import { listPlacement, setProjectPlacement } from "../../adapters/jetstream/placement/desired-state.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const bin = fileURLToPath(new URL("../../bin/jetflow.js", import.meta.url));
const good = fileURLToPath(new URL("./fixtures/ws-good.ts", import.meta.url));
const topology = freshTopology();
const QUEUE = "plq";
const LEASE = 5_000;
const env = { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1", NO_COLOR: "1" };

interface Service {
  id: string;
  child: ChildProcess;
  log: () => string;
}
const running: Service[] = [];
let nc: NatsConnection;
let orch: Orchestrator;

/** Polls `cond` until it holds; each poll is a round of NATS reads, so the pause between them only spares the loaded machine. */
async function eventually(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startService(id: string, labels?: string): Promise<Service> {
  const args = [bin, "worker-service", "serve", "--placement", "--lease-ms", String(LEASE), "--service-id", id];
  args.push("--servers", svc!.nats.url, "--prefix", topology.prefix, "--stream-prefix", topology.streamPrefix);
  if (labels) args.push("--labels", labels);
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (c: Buffer) => (log += c));
  child.stderr!.on("data", (c: Buffer) => (log += c));
  const s = { id, child, log: () => log };
  running.push(s);
  // "placing projects" is logged while the service starts, "ready" once it has: wait for both.
  const started = () => log.includes('"placement: placing projects"') && log.includes('"worker service ready"');
  await eventually(async () => started() || child.exitCode !== null, 60_000, `service ${id} to start`);
  assert.ok(started(), log);
  return s;
}

const exited = (s: Service) =>
  s.child.exitCode !== null || s.child.signalCode !== null ? Promise.resolve() : new Promise((r) => s.child.once("exit", r));

test.before(async () => {
  if (!svc) return;
  orch = await startOrchestrator({ url: svc.nats.url, topology, queue: QUEUE, codeVersion: "v1", leaseMs: 5_000 });
  nc = await connect({ servers: svc.nats.url });
});

test.after(async () => {
  for (const s of running) {
    if (s.child.exitCode !== null || s.child.signalCode !== null) continue;
    const done = exited(s);
    s.child.kill("SIGTERM");
    const hard = setTimeout(() => s.child.kill("SIGKILL"), 15_000);
    await done;
    clearTimeout(hard);
  }
  await nc?.close();
  await orch?.close();
  await svc?.stop();
});

function jetflow(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const all = [...args, "--servers", svc!.nats.url, "--prefix", topology.prefix];
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...all], { env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Project → services holding a live claim on which it runs, per the leases. */
async function placed(): Promise<Map<string, string[]>> {
  const l = await listPlacement(nc, topology.prefix);
  return new Map(
    l.projects.map((p) => [
      p.spec.project,
      p.replicas
        .filter((r) => !r.lapsed && r.status === "running")
        .map((r) => r.serviceId)
        .sort(),
    ]),
  );
}

/** The projects a service actually runs, by asking it. */
async function runsOn(id: string): Promise<string[]> {
  const m = await nc.request(workerServiceSubject(topology.prefix, id, "list"), "{}", { timeout: 10_000 });
  return WsListReply.parse(m.json())
    .projects.filter((p) => p.status === "running")
    .map((p) => p.project)
    .sort();
}

/** One project's status on a service. */
async function statusOn(id: string, project: string): Promise<WsProjectStatus> {
  const m = await nc.request(workerServiceSubject(topology.prefix, id, "status"), JSON.stringify({ project }), { timeout: 10_000 });
  return WsProjectStatus.parse(m.json());
}

/** True when the leases say `want` (project → holders) and every named service runs exactly what it holds. */
async function settled(want: Record<string, string[]>, ids: string[]): Promise<boolean> {
  const now = await placed();
  for (const [p, holders] of Object.entries(want))
    if (JSON.stringify(now.get(p) ?? []) !== JSON.stringify([...holders].sort())) return false;
  for (const id of ids) {
    const expected = Object.entries(want)
      .filter(([, h]) => h.includes(id))
      .map(([p]) => p)
      .sort();
    if (JSON.stringify(await runsOn(id)) !== JSON.stringify(expected)) return false;
  }
  return true;
}

let a: Service;
let b: Service;

t("three projects on two services: each runs its replica count, spread one replica per service, least loaded first", async () => {
  a = await startService("pa", "zone=a");
  b = await startService("pb", "gpu=true");
  for (const [p, n] of [
    ["p1", "1"],
    ["p2", "2"],
    ["p3", "1"],
  ] as const) {
    const r = await jetflow("projects", "set", p, "--queue", QUEUE, "--module", good, "--replicas", n);
    assert.is(r.code, 0, r.stderr);
  }
  const bad = await jetflow("projects", "set", "px", "--queue", QUEUE);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /module: give exactly one of module and fromStore: true/);

  // p1.0 → pa (tie, by id); p2.0 → pb (less loaded); p2.1 → pa (pb holds p2); p3.0 → pb.
  const want = { p1: ["pa"], p2: ["pa", "pb"], p3: ["pb"] };
  await eventually(() => settled(want, ["pa", "pb"]), 60_000, "p1, p2 ×2 and p3 running");
  const list = await jetflow("projects", "list");
  assert.is(list.code, 0, list.stderr);
  assert.match(list.stdout, /p2\s+plq\s+2\/2\s+0:p[ab]\(running\) 1:p[ab]\(running\)/, list.stdout);
  assert.match(list.stdout, /p1\s+plq\s+1\/1\s+0:pa\(running\)/, list.stdout);
});

t("labels: a project requiring gpu=true lands only on the gpu service; a second replica has nowhere to go", async () => {
  await setProjectPlacement(nc, topology.prefix, { project: "g", queue: QUEUE, module: good, replicas: 2, requires: { gpu: "true" } });
  await eventually(async () => (await placed()).get("g")?.join() === "pb", 60_000, "g on pb");
  assert.not.ok((await runsOn("pa")).includes("g"), "pa lacks gpu=true");
  const l = await listPlacement(nc, topology.prefix);
  const g = l.projects.find((p) => p.spec.project === "g")!;
  assert.equal([g.running, g.spec.replicas, g.replicas.length], [1, 2, 1], "one of two: one replica per service");
});

t("kill -9: the dead service's projects run on the other once their leases lapse", async () => {
  const started = Date.now();
  a.child.kill("SIGKILL");
  await exited(a);
  // pa held p1.0 and p2.1; pb already runs p2, so only p1 moves (p2 runs 1 of 2 until another service joins).
  await eventually(() => settled({ p1: ["pb"], p2: ["pb"], p3: ["pb"], g: ["pb"] }, ["pb"]), 60_000, "p1 moved to pb");
  const moveMs = Date.now() - started;
  console.log(`placement: moved after kill -9 in ${moveMs} ms (lease ${LEASE} ms)`);
  assert.ok(moveMs >= LEASE / 2, `not before the lease lapsed (${moveMs} ms)`);
  assert.ok(moveMs <= 2 * LEASE + 10_000, `within about a lease (${moveMs} ms)`);
  // The moved project takes tasks on its new service.
  const taskId = await orch.broker.submit(spec({ queue: QUEUE, codeVersion: "v1", workflowRunId: "run-moved", input: { n: 1 } }));
  const out = await orch.broker.waitForOutcome(taskId, { timeoutMs: 30_000 });
  assert.equal(out?.output, { r: 2 });
  assert.match(String(out?.workerId), /^pb-/);
});

let c: Service;

t("raising replicas from 1 to 2 starts the second replica on the other service", async () => {
  c = await startService("pc");
  // The free second replica of p2 goes to the newcomer first.
  await eventually(
    () => settled({ p1: ["pb"], p2: ["pb", "pc"], p3: ["pb"], g: ["pb"] }, ["pb", "pc"]),
    60_000,
    "p2's second replica on pc",
  );
  const before = await statusOn("pb", "p3");
  await setProjectPlacement(nc, topology.prefix, { project: "p3", queue: QUEUE, module: good, replicas: 2 });
  await eventually(() => settled({ p1: ["pb"], p2: ["pb", "pc"], p3: ["pb", "pc"], g: ["pb"] }, ["pb", "pc"]), 60_000, "p3 on pb and pc");
  assert.is((await statusOn("pb", "p3")).startedAt, before.startedAt, "more replicas do not restart the running one");
});

t("a graceful stop releases its claims at once: another service takes its projects before a lease could lapse", async () => {
  const started = Date.now();
  b.child.kill("SIGTERM");
  await exited(b);
  assert.is(b.child.exitCode, 0, b.log());
  const left = (await listPlacement(nc, topology.prefix)).projects.flatMap((p) => p.replicas).filter((r) => r.serviceId === "pb");
  assert.equal(left, [], "pb's claims were deleted, not left to lapse");
  // p1 (pb only) moves to pc; p2 and p3 keep their pc replica; g needs gpu=true: nowhere to go.
  await eventually(() => settled({ p1: ["pc"], p2: ["pc"], p3: ["pc"], g: [] }, ["pc"]), 60_000, "p1 on pc");
  const moveMs = Date.now() - started;
  console.log(`placement: moved after a graceful stop in ${moveMs} ms (lease ${LEASE} ms)`);
  assert.ok(moveMs < LEASE, `before a lease could lapse (${moveMs} ms)`);
});

t("a service whose claim is taken over stops that project; once the taker's lease lapses it takes it back", async () => {
  const kv = await new Kvm(nc).open(placementBucket(topology.prefix));
  const e = (await kv.get(claimKey("p1", 0)))!;
  assert.is(e.json<{ serviceId: string }>().serviceId, "pc");
  // What a service on the other side of a partition does once pc's lease has lapsed there.
  await kv.update(
    claimKey("p1", 0),
    JSON.stringify({ ...e.json<object>(), serviceId: "intruder", renewedAt: new Date().toISOString() }),
    e.revision,
  );
  const taken = Date.now();
  await eventually(async () => !(await runsOn("pc")).includes("p1"), 30_000, "pc to stop p1");
  const stoppedMs = Date.now() - taken;
  await eventually(() => settled({ p1: ["pc"], p2: ["pc"], p3: ["pc"] }, ["pc"]), 60_000, "p1 back on pc");
  const backMs = Date.now() - taken;
  console.log(`placement: taken-over project stopped in ${stoppedMs} ms, back after the taker's lease lapsed in ${backMs} ms`);
  assert.ok(backMs >= LEASE / 2, `not before the taker's lease lapsed (${backMs} ms)`);
});

t("a changed start request restarts the replica; one stopped by request starts again; a refused start stays with its error", async () => {
  const before = await statusOn("pc", "p2");
  await setProjectPlacement(nc, topology.prefix, { project: "p2", queue: QUEUE, module: good, replicas: 2, concurrency: 2 });
  await eventually(async () => (await statusOn("pc", "p2")).capacity === 2, 60_000, "p2 restarted with concurrency 2");
  assert.is.not((await statusOn("pc", "p2")).startedAt, before.startedAt);

  await nc.request(workerServiceSubject(topology.prefix, "pc", "stop"), JSON.stringify({ project: "p2" }), { timeout: 20_000 });
  await eventually(async () => (await runsOn("pc")).includes("p2"), 30_000, "p2 started again on pc");

  await setProjectPlacement(nc, topology.prefix, { project: "bad", queue: QUEUE, module: "/nonexistent/acts.mjs" });
  let bad: Awaited<ReturnType<typeof listPlacement>>["projects"][number] | undefined;
  await eventually(
    async () =>
      (bad = (await listPlacement(nc, topology.prefix)).projects.find((p) => p.spec.project === "bad"))?.replicas[0]?.status === "refused",
    30_000,
    "bad refused",
  );
  assert.equal([bad!.running, bad!.replicas[0]!.serviceId], [0, "pc"]);
  assert.match(String(bad!.replicas[0]!.error), /nonexistent\/acts\.mjs/);
  const list = await jetflow("projects", "list");
  assert.match(list.stdout, /bad\s+plq\s+0\/1\s+0:pc\(refused\)\s+.*nonexistent/, list.stdout);
});

t("jetflow projects remove: the holder stops the project and deletes its claim", async () => {
  const r = await jetflow("projects", "remove", "p3");
  assert.is(r.code, 0, r.stderr);
  await eventually(async () => !(await runsOn("pc")).includes("p3"), 30_000, "pc to stop p3");
  await eventually(
    async () => (await new Kvm(nc).open(placementBucket(topology.prefix)).then((kv) => kv.get(claimKey("p3", 1))))?.operation === "DEL",
    30_000,
    "p3's claim deleted",
  );
  const again = await jetflow("projects", "remove", "p3");
  assert.is(again.code, 1);
  assert.match(again.stderr, /no project "p3" in the desired state/);
});

test.run();

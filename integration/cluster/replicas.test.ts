// test-file-timeout-ms: 240000
// On a 3-node JetStream cluster: `jetflow streams init --replicas 3` and an orchestrator with
// `nats.replicas: 3` make EVERY stream, durable consumer (jobs, task, report consumers) and KV
// bucket R3, they agree (neither changes what the other made), a process without the setting
// keeps R3 rather than scaling down, and `jetflow streams status` reports replicas, leader and lag.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { rmSync } from "node:fs";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { REPO_NATS_PASSWORDS, services, type Services } from "../harness/index.js";
import { useRepoNatsCluster, type NatsCluster } from "../harness/nats-cluster.js";
import { runCli, startOrchestratorProcess, until, type OrchestratorProcess, type TestDeployment } from "../orchestrator/support.js";
import { remoteDeployment } from "../fuzz/remote-deployment.js";
import { ensureTopology } from "../../adapters/jetstream/topology.js";
import { ensureReportConsumer } from "../../adapters/jetstream/remote/consumers.js";
import { createTopology } from "../../src/contract/topology.js";
import { topologyStatus, type AssetStatus } from "../../adapters/jetstream/topology-status.js";

const cluster: NatsCluster | null = await useRepoNatsCluster("integration/cluster/replicas");
const svc: Services<"postgres" | "s3"> | null = cluster ? await services(["postgres", "s3"]) : null;
const t = cluster && svc ? test : test.skip;

let nc: NatsConnection | undefined;
let d: TestDeployment | undefined;
let orch: OrchestratorProcess | undefined;

test.after(async () => {
  await orch?.kill9();
  await nc?.close();
  await svc?.stop();
  await cluster?.stop();
  if (d) rmSync(d.dir, { recursive: true, force: true });
});

const operatorFlags = (): string[] => [
  "--servers",
  cluster!.servers,
  "--user",
  "orchestrator",
  "--password",
  REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD,
];

async function status(extra: string[] = []): Promise<{ code: number | null; assets: AssetStatus[]; stderr: string }> {
  const r = await runCli(["streams", "status", "--json", ...extra, ...operatorFlags()], process.env);
  if (r.stdout.trim() === "") throw new Error(`streams status printed nothing (exit ${r.code}): ${r.stderr}`);
  return { code: r.code, assets: (JSON.parse(r.stdout) as { assets: AssetStatus[] }).assets, stderr: r.stderr };
}

t("an orchestrator with nats.replicas 3 makes every stream, consumer and bucket R3 (task and report consumers too)", async () => {
  nc = await connect({ servers: cluster!.urls, user: "orchestrator", pass: REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD });
  const jsm = await jetstreamManager(nc);
  const topology = createTopology();
  // An R1 report consumer left by an earlier version: the orchestrator must scale it, not keep it.
  await ensureTopology(jsm, { topology, replicas: 3 });
  await ensureReportConsumer(jsm, { topology, queue: "default", replicas: 1 });
  assert.is((await jsm.consumers.info("JETFLOW_REPORTS", "reports-default")).config.num_replicas, 1);

  d = remoteDeployment({ nats: { url: cluster!.servers }, databaseUrl: svc!.postgres.url, s3: svc!.s3, replicas: 3 });
  orch = await startOrchestratorProcess(d, 60_000);

  // A consumer the orchestrator just scaled from R1 elects its R3 leader a moment later: wait for
  // a leader everywhere (bounded), then check what the command reports.
  const { code, assets, stderr } = await until(
    "a leader for every JetStream asset (streams status --min-replicas 3 exits 0)",
    async () => {
      const r = await status(["--min-replicas", "3"]);
      return r.code === 0 && r.assets.length > 0 && r.assets.every((a) => a.leader) ? r : undefined;
    },
    30_000,
    500,
  );
  const names = assets.map((a) => `${a.kind} ${a.name}`);
  for (const want of [
    "stream JETFLOW_TASKS",
    "stream JETFLOW_REPORTS",
    "stream JETFLOW_JOBS",
    "stream JETFLOW_EVENTS",
    "consumer JETFLOW_TASKS/tasks-default~~v1",
    "consumer JETFLOW_REPORTS/reports-default",
    "kv jetflow_workers",
  ])
    assert.ok(names.includes(want), `streams status lists ${want} (got ${names.join(", ")})`);
  const notR3 = assets.filter((a) => a.replicas !== 3).map((a) => `${a.kind} ${a.name} R${a.replicas}`);
  assert.equal(notR3, [], "every asset is R3");
  assert.is(code, 0, `--min-replicas 3 passes: ${stderr}`);
  for (const a of assets) {
    assert.ok(a.leader && /^n[123]$/.test(a.leader), `${a.name} has a leader node (${a.leader})`);
    assert.is(a.followers.length, 2, `${a.name} has two followers`);
  }
});

t("streams init --replicas 3 agrees with the orchestrator: nothing to change; without the setting nothing scales down", async () => {
  const r = await runCli(
    ["streams", "init", "--replicas", "3", "--task-queues", "default@v1", "--task-lease-ms", "2000", "--json", ...operatorFlags()],
    process.env,
  );
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { created: string[]; updated: string[]; unchanged: string[] };
  assert.equal(report.created, [], "the orchestrator already made everything");
  // The jobs consumer differs only by the orchestrator's own job lease (jobs.leaseMs), never by replicas.
  assert.equal(
    report.updated.filter((u) => /replicas/.test(u)),
    [],
    `no replica change: ${report.updated.join("; ")}`,
  );

  // A process that does not configure replicas (an older config, a `streams init` without the flag).
  const jsm = await jetstreamManager(nc!);
  const again = await ensureTopology(jsm, { topology: createTopology() });
  assert.equal(
    again.updated.filter((u) => /replicas/.test(u)),
    [],
    "unset replicas keeps R3",
  );
  const { code, assets } = await status(["--min-replicas", "3"]);
  assert.is(code, 0);
  assert.ok(assets.every((a) => a.replicas === 3));
});

t("streams status reports a follower that is down, and --min-replicas fails on an R1 asset", async () => {
  const jsm = await jetstreamManager(nc!);
  const tasks = await jsm.streams.info("JETFLOW_TASKS");
  const follower = tasks.cluster!.replicas![0]!.name;
  await cluster!.node(follower).kill();
  try {
    // The leader marks a follower "not current" once it misses its heartbeats (seconds): wait for that.
    const down = (assets: AssetStatus[]) => {
      const row = assets.find((a) => a.name === "JETFLOW_TASKS");
      const f = row?.followers.find((x) => x.name === follower);
      return row && f && (f.offline || !f.current) && !row.healthy ? row : undefined;
    };
    await until(
      "the leader to see its follower down",
      async () => down(await topologyStatus(jsm, { streamPrefix: "JETFLOW", prefix: "jetflow" }).catch(() => [])),
      60_000,
      250,
    );
    const { assets } = await status();
    assert.ok(
      down(assets),
      `streams status shows the killed follower ${follower} offline or behind: ${JSON.stringify(assets.find((a) => a.name === "JETFLOW_TASKS"))}`,
    );
  } finally {
    await cluster!.node(follower).start();
  }
  await jsm.streams.add({ name: "JETFLOW_SCRATCH", subjects: ["jetflow-scratch.>"], num_replicas: 1 });
  const { code, stderr } = await status(["--min-replicas", "3"]);
  assert.is(code, 1);
  assert.match(stderr, /stream JETFLOW_SCRATCH \(R1/);
  await jsm.streams.delete("JETFLOW_SCRATCH");
});

test.run();

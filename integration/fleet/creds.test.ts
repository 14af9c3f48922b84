// `jetflow creds init|issue` end to end: a nats-server runs in operator mode with the generated
// resolver config; a worker credential for queue a can pull queue a and is denied queue b, the
// submission API and the stream topology.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { assertDenied, useNats, type NatsService } from "../harness/index.js";
import { ServiceUnavailableError } from "../harness/types.js";
import { inCI } from "../harness/lifecycle.js";
import { createTopology } from "../../src/contract/topology.js";
import { ensureTopology } from "../../adapters/jetstream/topology.js";
import { ensureTaskConsumer, taskConsumerName } from "../../adapters/jetstream/remote/index.js";
import { inboxPrefixFromCreds } from "../../worker-sdk/creds.js";
import { createActivityWorker } from "../../worker-sdk/worker.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { createNatsFleetMember } from "../../worker-sdk/nats-fleet.js";
import { ensureWorkerRegistry, listWorkers, sendWorkerControl } from "../../adapters/jetstream/fleet/index.js";
import { stage } from "../../test/remote/helpers/fixture.js";
import { until } from "../remote/helpers.js";

const root = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "jetflow-creds-"));
const topology = createTopology();

/** Runs the real CLI as a user would; fails the test on a non-zero exit. */
function jetflow(...args: string[]): string {
  const r = spawnSync(process.execPath, ["bin/jetflow.js", ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1" },
  });
  assert.is(r.status, 0, `jetflow ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

jetflow("creds", "init", "--dir", dir);
let nats: NatsService | null = null;
try {
  // The generated resolver config, inlined (the harness owns listen/jetstream/store lines).
  nats = await useNats({ config: readFileSync(join(dir, "resolver.conf"), "utf8") });
} catch (err) {
  if (!(err instanceof ServiceUnavailableError) || inCI()) throw err;
  console.warn(`SKIP integration/fleet/creds: ${err.message}`);
}
const t = nats ? test : test.skip;
let orch: NatsConnection;
let worker: NatsConnection;

test.before(async () => {
  if (!nats) return;
  orch = await connect({ servers: nats.url, authenticator: credsAuthenticator(readFileSync(join(dir, "orchestrator.creds"))) });
  const jsm = await jetstreamManager(orch);
  await ensureTopology(jsm, { topology, storage: "memory" });
  await ensureWorkerRegistry(orch, { prefix: topology.prefix, storage: "memory" });
  for (const queue of ["a", "b"]) {
    await ensureTaskConsumer(jsm, { topology, queue, codeVersion: "v1", leaseMs: 5_000, maxDeliver: 3 });
    await jetstream(orch).publish(topology.taskSubject(queue, "v1"), JSON.stringify({ probe: queue }));
  }
  const out = join(dir, "worker-a.creds");
  const printed = jetflow(
    "creds",
    "issue",
    "--dir",
    dir,
    "--queue",
    "a",
    "--code-version",
    "v1",
    "--worker-id",
    "creds-w1",
    "--out",
    out,
    "--json",
  );
  assert.is(JSON.parse(printed).inboxPrefix, "_INBOX_worker-a-creds-w1");
  assert.is(statSync(out).mode & 0o777, 0o600, "the credential file is private");
  const creds = readFileSync(out);
  const inboxPrefix = await inboxPrefixFromCreds(creds);
  assert.is(inboxPrefix, "_INBOX_worker-a-creds-w1");
  worker = await connect({ servers: nats.url, authenticator: credsAuthenticator(creds), inboxPrefix: inboxPrefix! });
});
test.after(async () => {
  await worker?.close();
  await orch?.close();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const pull = (queue: string) =>
  worker.request(
    `$JS.API.CONSUMER.MSG.NEXT.${topology.streams.tasks}.${taskConsumerName(queue, "v1")}`,
    JSON.stringify({ batch: 1, expires: 2_000_000_000 }),
    { timeout: 5_000, noMux: true },
  );

t("a credential issued for queue a pulls queue a's task and acks it", async () => {
  const m = await pull("a");
  assert.equal(JSON.parse(m.string()), { probe: "a" });
  assert.ok(m.reply, "a JetStream delivery with an ack subject");
  await worker.request(m.reply!, "+ACK", { timeout: 5_000 }); // allowed: $JS.ACK of its own consumer
  const info = await (await jetstreamManager(orch)).consumers.info(topology.streams.tasks, taskConsumerName("a", "v1"));
  assert.is(info.num_ack_pending, 0);
});

t("the same credential is DENIED queue b, the submission API and stream creation", async () => {
  await assertDenied(pull("b"), "pull of queue b");
  await assertDenied(
    worker.request(topology.apiSubject("runs.create"), JSON.stringify({ workflowId: "wf", input: {} }), { timeout: 2_000 }),
    "runs.create",
  );
  await assertDenied(
    worker.request("$JS.API.STREAM.CREATE.EVIL", JSON.stringify({ name: "EVIL", subjects: ["evil.>"] }), { timeout: 2_000 }),
    "stream create",
  );
  const info = await (await jetstreamManager(orch)).consumers.info(topology.streams.tasks, taskConsumerName("b", "v1"));
  assert.is(info.num_pending, 1, "queue b's task is untouched");
  assert.ok(!worker.isClosed(), "a refusal does not cost the connection");
});

t("with that credential a worker joins the fleet and obeys a drain; it may not send control requests itself", async () => {
  const transport = createNatsWorkerTransport(worker, { topology, queue: "a", codeVersion: "v1" });
  const fleet = createNatsFleetMember(worker, { topology, heartbeatIntervalMs: 500 });
  const w = createActivityWorker({
    transport,
    queue: "a",
    stageCodeVersion: "v1",
    workerId: "creds-w1",
    registry: { heavy: stage("heavy", async (ctx) => ({ output: { r: ctx.input.n } })) },
    pollWaitMs: 300,
    fleet,
  });
  w.start();
  try {
    await until(
      async () => (await listWorkers(orch, { prefix: topology.prefix })).some((x) => x.id === "creds-w1" && x.status === "running"),
      10_000,
      "the registry entry",
    );
    await assertDenied(
      worker.request(`${topology.prefix}.ctl.creds-w1.status`, "", { timeout: 2_000 }),
      "a control request from the worker credential",
    );
    const reply = await sendWorkerControl(orch, "creds-w1", "drain", { prefix: topology.prefix, timeoutMs: 5_000 });
    assert.ok(reply, "the worker answered the orchestrator's drain");
    await w.done();
    assert.is(w.getStats().status, "stopped");
  } finally {
    await w.stop();
    await transport.close?.();
  }
});

t("issuing without `creds init` fails with a clear message", () => {
  const r = spawnSync(
    process.execPath,
    ["bin/jetflow.js", "creds", "issue", "--dir", join(dir, "nope"), "--queue", "a", "--code-version", "v1", "--worker-id", "w"],
    { cwd: root, encoding: "utf8", timeout: 60_000, env: { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1" } },
  );
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /creds init/);
});

test.run();

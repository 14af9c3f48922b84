// The repository's nats-server.conf, loaded as is (minus listen/jetstream, which the harness owns):
// a worker user can pull and report for its own queue and nothing else.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { assertDenied, REPO_NATS_PASSWORDS, useRepoNats, type NatsService } from "../harness/index.js";
import { createTopology } from "../../src/contract/topology.js";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { ensureTaskConsumer, taskConsumerName } from "../../adapters/jetstream/remote/index.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import { startOrchestrator, type Orchestrator } from "./helpers.js";

const PASSWORDS = REPO_NATS_PASSWORDS;

const nats: NatsService | null = await useRepoNats("integration/remote/permissions");
const t = nats ? test : test.skip;
const topology = createTopology();
let orch: Orchestrator;
let worker: NatsConnection;

test.before(async () => {
  if (!nats) return;
  orch = await startOrchestrator({
    url: nats.url,
    topology,
    queue: "default",
    codeVersion: "v1",
    leaseMs: 2_000,
    connect: { user: "orchestrator", pass: PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD },
  });
  // Another queue's consumer exists, so a refusal below is about permissions, not a missing consumer.
  await ensureTaskConsumer(await jetstreamManager(orch.nc), { topology, queue: "other", codeVersion: "v1", leaseMs: 2_000, maxDeliver: 3 });
  worker = await connect({
    servers: nats.url,
    user: "worker-default",
    pass: PASSWORDS.JETFLOW_WORKER_DEFAULT_PASSWORD,
    inboxPrefix: "_INBOX_worker-default",
  });
});
test.after(async () => {
  await worker?.close();
  await orch?.close();
  await nats?.stop();
});

t("the worker user is ALLOWED to pull its own queue, heartbeat, and report: a task completes", async () => {
  const transport = createNatsWorkerTransport(worker, { topology, queue: "default", codeVersion: "v1" });
  const w = createActivityWorker({
    transport,
    queue: "default",
    stageCodeVersion: "v1",
    workerId: "w1",
    pollWaitMs: 500,
    heartbeatIntervalMs: 200,
    registry: { heavy: stage("heavy", async (ctx) => ({ output: { r: ctx.input.n * 3 } })) },
  });
  w.start();
  try {
    const taskId = await orch.broker.submit(spec({ queue: "default", codeVersion: "v1", input: { n: 5 } }));
    const out = await orch.broker.waitForOutcome(taskId, { timeoutMs: 10_000 });
    assert.is(out?.status, "completed");
    assert.equal(out?.output, { r: 15 });
  } finally {
    await w.stop();
    await transport.close?.();
  }
});

t("the worker user is DENIED pulling another queue's consumer", async () => {
  const subject = `$JS.API.CONSUMER.MSG.NEXT.${topology.streams.tasks}.${taskConsumerName("other", "v1")}`;
  await assertDenied(
    worker.request(subject, JSON.stringify({ batch: 1, expires: 100_000_000 }), { timeout: 2_000, noMux: true }),
    "pull of queue other",
  );
  const other = createNatsWorkerTransport(worker, { topology, queue: "other", codeVersion: "v1" });
  await assertDenied(other.next("other", { workerId: "w1", codeVersion: "v1", labels: {}, waitMs: 200 }), "transport.next on queue other");
  assert.ok(!worker.isClosed(), "a refusal does not cost the connection");
});

t("the worker user is DENIED the submission API and creating streams", async () => {
  await assertDenied(
    worker.request(topology.apiSubject("runs.create"), JSON.stringify({ workflowId: "wf", input: {} }), { timeout: 2_000 }),
    "runs.create",
  );
  await assertDenied(
    worker.request("$JS.API.STREAM.CREATE.EVIL", JSON.stringify({ name: "EVIL", subjects: ["evil.>"] }), { timeout: 2_000 }),
    "stream create",
  );
  const names: string[] = [];
  for await (const page of (await jetstreamManager(orch.nc)).streams.names()) names.push(...(Array.isArray(page) ? page : [page]));
  assert.not.ok(names.includes("EVIL"));
});

t("the worker user's plain publish to jetflow.api.> is DENIED by the server", async () => {
  const statuses = worker.status()[Symbol.asyncIterator]();
  const seen = (async () => {
    for (;;) {
      const r = await statuses.next();
      if (r.done) return "";
      if (r.value.type === "error" && /permissions violation/i.test(r.value.error.message)) return r.value.error.message;
    }
  })();
  let bound: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<string>(
    (resolve) => (bound = setTimeout(() => resolve("no permissions violation reported within 5 s"), 5_000)),
  );
  worker.publish(topology.apiSubject("runs.cancel"), JSON.stringify({ workflowRunId: "x" }));
  const message = await Promise.race([seen, timedOut]);
  clearTimeout(bound);
  await statuses.return?.();
  assert.match(message, /publish to "?jetflow\.api\.runs\.cancel/i);
  assert.ok(!worker.isClosed());
});

t("the worker user is DENIED presigning keys outside its task's prefix; its own prefix works", async () => {
  const attempts: Record<string, string> = {};
  const tryOp = async (what: string, op: () => Promise<unknown>) => {
    try {
      await op();
      attempts[what] = "allowed";
    } catch (err) {
      attempts[what] = `${(err as { code?: string }).code ?? "?"}: ${(err as Error).message}`;
    }
  };
  const transport = createNatsWorkerTransport(worker, { topology, queue: "default", codeVersion: "v1" });
  const w = createActivityWorker({
    transport,
    queue: "default",
    stageCodeVersion: "v1",
    workerId: "w-deputy",
    pollWaitMs: 500,
    registry: {
      heavy: stage("heavy", async (ctx) => {
        await tryOp("write another run", () => ctx.artifacts.put("runs/other-run/heavy/1/steal.bin", "x"));
        await tryOp("write another attempt", () => ctx.artifacts.put(`runs/${ctx.workflowRunId}/heavy/9/x.bin`, "x"));
        await tryOp("escape with ..", () => ctx.artifacts.put("../../../other-run/heavy/1/x.bin", "x"));
        await tryOp("read another run", () => ctx.artifacts.get("runs/other-run/heavy/1/out.json"));
        await tryOp("write own prefix", () => ctx.artifacts.put("own.bin", "mine"));
        return { output: { r: ctx.input.n } };
      }),
    },
  });
  w.start();
  try {
    const taskId = await orch.broker.submit(spec({ workflowRunId: "run-deputy", queue: "default", codeVersion: "v1", input: { n: 1 } }));
    assert.is((await orch.broker.waitForOutcome(taskId, { timeoutMs: 10_000 }))?.status, "completed");
  } finally {
    await w.stop();
    await transport.close?.();
  }
  for (const what of ["write another run", "write another attempt", "escape with ..", "read another run"]) {
    assert.match(attempts[what] ?? "", /^VALIDATION: presign refused for key/, `${what}: ${attempts[what]}`);
  }
  assert.match(attempts["write another run"]!, /allowed: runs\/run-deputy\/heavy\/1\//);
  assert.match(attempts["read another run"]!, /allowed: runs\/run-deputy\//);
  assert.is(attempts["write own prefix"], "allowed");
});

test.run();

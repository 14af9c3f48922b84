// Values Postgres cannot store (U+0000, lone surrogates, int4 overflow) sent by a worker: a report
// holding one fails its task at once with a reason naming the field (it is never re-queued), and
// heartbeat/presign bodies holding one get a VALIDATION reply naming the field, not SQL text.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { z } from "zod";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { brokerSubject, reportConsumerName, startReportConsumer, type ReportDeadLetter } from "../../adapters/jetstream/remote/index.js";
import { jetstream } from "@nats-io/jetstream";
import type { Broker } from "../../src/remote/index.js";
import { parseTaskErrorReply } from "../../src/contract/tasks.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import type { PostgresActivityTaskStore } from "../../adapters/postgres/activity-task-store.js";
import { postgresTaskStore, startOrchestrator, until, type Orchestrator } from "./helpers.js";

const svc = await services(["nats", "postgres"]);
const t = svc ? test : test.skip;
const QUEUE = "default";
const VERSION = "v1";
const topology = freshTopology();
let orch: Orchestrator<PostgresActivityTaskStore>;
let pg: Awaited<ReturnType<typeof postgresTaskStore>>;
let wnc: NatsConnection;

test.before(async () => {
  if (!svc) return;
  pg = await postgresTaskStore(svc.postgres.url);
  orch = await startOrchestrator({ url: svc.nats.url, topology, queue: QUEUE, codeVersion: VERSION, leaseMs: 5_000, taskStore: pg.store });
  wnc = await connect({ servers: svc.nats.url });
});
test.after(async () => {
  await wnc?.close();
  await orch?.close();
  await pg?.close();
  await svc?.stop();
});

t("a report whose output holds U+0000 fails its task once, naming the field; it is not re-queued", async () => {
  const transport = createNatsWorkerTransport(wnc, { topology, queue: QUEUE, codeVersion: VERSION });
  let runs = 0;
  const w = createActivityWorker({
    transport,
    queue: QUEUE,
    stageCodeVersion: VERSION,
    workerId: "w-nul",
    pollWaitMs: 200,
    registry: {
      heavy: stage("heavy", async () => (runs++, { output: { text: "a\u0000b" } }), { output: z.object({ text: z.string() }) }),
    },
  });
  w.start();
  try {
    const taskId = await orch.broker.submit(spec({ workflowRunId: "run-nul", queue: QUEUE, codeVersion: VERSION }));
    const outcome = await orch.broker.waitForOutcome(taskId, { timeoutMs: 15_000 });
    assert.is(outcome?.status, "failed", JSON.stringify(outcome));
    assert.match(outcome!.error!, /output\.text contains U\+0000/);
    assert.match(outcome!.error!, /without retry/);
    await until(() => orch.reports.some((r) => r.taskId === taskId), 5_000, "the report's verdict");
    assert.equal(
      orch.reports.filter((r) => r.taskId === taskId),
      [{ accepted: true, taskId }],
    );
    assert.is(runs, 1, "the stage body ran once: a value that cannot be stored is not retried");
    const info = await (await jetstreamManager(orch.nc)).consumers.info(topology.streams.reports, reportConsumerName(QUEUE));
    assert.is(info.num_ack_pending + info.num_pending, 0, "no report waits for redelivery");
    assert.is(info.num_redelivered, 0);
    assert.equal(orch.deadLetters, []);
  } finally {
    await w.stop();
    await transport.close?.();
  }
});

async function refusal(op: "heartbeat" | "presign", body: unknown) {
  const m = await wnc.request(brokerSubject(topology, QUEUE, op), JSON.stringify(body), { timeout: 5_000 });
  const r = parseTaskErrorReply(m.data);
  assert.ok(r.ok, `expected an error reply, got ${new TextDecoder().decode(m.data)}`);
  return r.ok ? r.value.error : { code: "", message: "", issues: [] };
}

t("heartbeat and presign bodies with NUL, lone surrogates or int4 overflow get VALIDATION naming the field", async () => {
  const beat = { taskId: "t-1", attempt: 1, leaseToken: "tok", workerId: "w" };
  const cases: [op: "heartbeat" | "presign", body: unknown, path: string, why: RegExp][] = [
    ["heartbeat", { ...beat, details: { note: "x\u0000y" } }, "details.note", /U\+0000/],
    ["heartbeat", { ...beat, details: { ["k\ud800"]: 1 } }, "details.k\ud800", /surrogate/],
    ["heartbeat", { ...beat, attempt: 2 ** 31 }, "attempt", /2147483647/],
    ["heartbeat", { ...beat, leaseToken: "a\u0000" }, "leaseToken", /control characters/],
    ["heartbeat", { start: true, taskId: "t\r\n1", attempt: 1, workerId: "w", codeVersion: VERSION }, "taskId", /control characters/],
    ["presign", { taskId: "t-1", attempt: 1, leaseToken: "tok", op: "put", key: "out\u0000.json" }, "key", /U\+0000/],
    ["presign", { taskId: "t-1", attempt: 1, leaseToken: "tok", op: "put", key: "o", contentType: "\udc00" }, "contentType", /surrogate/],
  ];
  for (const [op, body, path, why] of cases) {
    const e = await refusal(op, body);
    const label = `${op} ${JSON.stringify(body)} -> ${JSON.stringify(e)}`;
    assert.is(e.code, "VALIDATION", label);
    const issue = e.issues?.find((i) => i.path === path);
    assert.ok(issue, label);
    assert.match(issue!.message, why, label);
    assert.not.match(e.message, /SQLSTATE|invalid byte sequence|postgres/i, label);
  }
});

t(
  "a report the store keeps failing on is retried a bounded number of times, then dead-lettered; a data refusal fails the attempt at once",
  async () => {
    const report = (taskId: string) => ({
      v: 1,
      taskId,
      attempt: 1,
      leaseToken: "tok",
      workerId: "w",
      codeVersion: VERSION,
      outcome: "failed",
      error: "x",
      logs: [],
      reportedAt: new Date().toISOString(),
    });
    const calls = new Map<string, number>();
    const failed: string[] = [];
    const fake = {
      async report(raw: Uint8Array) {
        const { taskId } = JSON.parse(new TextDecoder().decode(raw)) as { taskId: string };
        calls.set(taskId, (calls.get(taskId) ?? 0) + 1);
        if (taskId === "down") throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
        throw Object.assign(new Error("unsupported Unicode escape sequence"), { code: "22P05", severity: "ERROR" });
      },
      async failReport(raw: Uint8Array, reason: string) {
        failed.push(`${(JSON.parse(new TextDecoder().decode(raw)) as { taskId: string }).taskId}: ${reason}`);
        return { accepted: true, taskId: "" };
      },
    } as unknown as Broker;
    const dead: ReportDeadLetter[] = [];
    const rc = await startReportConsumer(orch.nc, fake, {
      topology,
      queue: "bounded",
      pollMs: 200,
      retryDelayMs: 10,
      maxRetryDelayMs: 40,
      maxDeliveries: 4,
      concurrency: 1,
      onDeadLetter: (d) => dead.push(d),
    });
    try {
      const js = jetstream(orch.nc);
      await js.publish(topology.reportSubject("bounded"), JSON.stringify(report("down")));
      await js.publish(topology.reportSubject("bounded"), JSON.stringify(report("refused")));
      await until(() => dead.length === 2, 10_000, "both dead letters");
      assert.is(calls.get("down"), 4, "retried exactly maxDeliveries times");
      assert.is(calls.get("refused"), 1, "a data refusal is not retried");
      assert.match(dead.find((d) => d.body.includes('"down"'))!.reason, /after 4 deliveries/);
      assert.equal(failed.length, 1);
      assert.match(failed[0]!, /^refused: the store refused the report \(SQLSTATE 22P05\)/);
      const info = await (await jetstreamManager(orch.nc)).consumers.info(topology.streams.reports, reportConsumerName("bounded"));
      assert.is(info.num_ack_pending + info.num_pending, 0, "nothing left to redeliver");
    } finally {
      await rc.stop();
    }
  },
);

test.run();

// A remote stage on a real worker over a real nats-server follows the same failure policy as a
// local one: NonRetryableStageError and schema failures (the output schema, or a ZodError thrown
// by the stage body) fail the task at attempt 1 without spending the retry budget, while a plain
// Error is still retried. Before the shared policy the worker retried the first two kinds.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { createActivityWorker, type ActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { NonRetryableStageError } from "../../src/index.js";
import type { TaskOutcome } from "../../src/remote/index.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import { startOrchestrator, until } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const QUEUE = "default";
const VERSION = "v1";
const cleanups: (() => Promise<void>)[] = [];

test.after.each(async () => {
  // Last in, first out: the worker stops before its connection and the orchestrator.
  while (cleanups.length > 0) await cleanups.pop()!();
});
test.after(async () => {
  await svc?.stop();
});

/**
 * Runs `body` as the remote stage "heavy" on a worker over NATS, with a task allowing
 * `maxAttempts` deliveries and a retry backoff of a few milliseconds. Resolves once the task is
 * terminal and its message is acked away, with the outcome and how often the body ran.
 */
async function runRemote(
  body: (input: { n: number }) => Promise<{ output: unknown }>,
  maxAttempts: number,
): Promise<{ out: TaskOutcome | null; runs: number }> {
  const topology = freshTopology();
  const orch = await startOrchestrator({ url: svc!.nats.url, topology, queue: QUEUE, codeVersion: VERSION, leaseMs: 5_000 });
  cleanups.push(() => orch.close());
  let runs = 0;
  const heavy = {
    ...stage("heavy", async (ctx) => {
      runs++;
      return body(ctx.input as { n: number });
    }),
    retry: { maxAttempts, backoffMs: 10, maxBackoffMs: 20 },
  };
  const nc: NatsConnection = await connect({ servers: svc!.nats.url });
  const transport = createNatsWorkerTransport(nc, { topology, queue: QUEUE, codeVersion: VERSION });
  const w: ActivityWorker = createActivityWorker({
    transport,
    queue: QUEUE,
    stageCodeVersion: VERSION,
    registry: { heavy },
    workerId: "w1",
    pollWaitMs: 500,
  });
  cleanups.push(async () => {
    await w.stop({ drain: false });
    await transport.close?.();
    if (!nc.isClosed()) await nc.close();
  });
  w.start();

  const taskId = await orch.broker.submit(spec({ queue: QUEUE, codeVersion: VERSION, input: { n: 42 }, maxAttempts }));
  const out = await orch.broker.waitForOutcome(taskId, { timeoutMs: 15_000 });
  // The worker acks after its report is durable: once the work-queue stream is empty no further
  // delivery can reach the stage, so the count below is final.
  const jsm = await jetstreamManager(orch.nc);
  await until(async () => (await jsm.streams.info(topology.streams.tasks)).state.messages === 0, 5_000, "the worker's ack of the task");
  return { out, runs };
}

t("a remote stage throwing NonRetryableStageError fails at attempt 1 and runs once (maxAttempts 3)", async () => {
  const { out, runs } = await runRemote(async () => {
    throw new NonRetryableStageError("unknown document 42");
  }, 3);
  assert.is(out?.status, "failed");
  assert.is(out?.error, "unknown document 42");
  assert.is(out?.attempt, 1, "the task was retried");
  assert.is(runs, 1, "the stage body ran more than once");
});

t("a remote stage whose output fails its output schema fails at attempt 1 and runs once (maxAttempts 3)", async () => {
  const { out, runs } = await runRemote(async () => ({ output: { r: "not a number" } }), 3);
  assert.is(out?.status, "failed");
  assert.match(out?.error ?? "", /invalid stage output/);
  assert.match(out?.error ?? "", /\br\b/, "the error names the failing field");
  assert.is(out?.attempt, 1, "the task was retried");
  assert.is(runs, 1, "the stage body ran more than once");
});

t("a remote stage whose body throws a ZodError (Schema.parse) fails at attempt 1 and runs once (maxAttempts 3)", async () => {
  const Document = z.object({ id: z.string().min(1, "document id must not be empty") });
  const { out, runs } = await runRemote(async () => {
    Document.parse({ id: "" });
    return { output: { r: 0 } };
  }, 3);
  assert.is(out?.status, "failed");
  assert.match(out?.error ?? "", /document id must not be empty/);
  assert.is(out?.attempt, 1, "the task was retried");
  assert.is(runs, 1, "the stage body ran more than once");
});

t("control: a remote stage throwing a plain Error is retried, and fails at attempt 2 of 2 after running twice", async () => {
  const { out, runs } = await runRemote(async () => {
    throw new Error("upstream timed out");
  }, 2);
  assert.is(out?.status, "failed");
  assert.is(out?.error, "upstream timed out");
  assert.is(out?.attempt, 2);
  assert.is(runs, 2);
});

test.run();

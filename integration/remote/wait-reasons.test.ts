// test-file-timeout-ms: 240000
// Why a remote task waits, as `runs.get` says: a real orchestrator (in process: Postgres, S3,
// JetStream, the API) and worker-SDK workers registered in the fleet registry. A labelled task with
// only unlabelled workers live is `no-worker`; a pending task while the one worker's slot is taken
// is `workers-busy`; with high-priority tasks queued it is `lower-priority`; each reason goes away
// once the task starts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services, type Services } from "../harness/index.js";
import type { JetflowClient } from "../../adapters/jetstream/api/client.js";
import type { StageWaitJson } from "../../src/contract/api-messages.js";
import { defineStage } from "../../src/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { until } from "./helpers.js";
import { startInProcessOrchestrator, startSdkWorker, waitShown } from "./in-process-orchestrator.js";
import { Input, Output, QUEUE, VERSION } from "./fixtures/wait-workflows.js";
import { z } from "zod";

const svc: Services<"nats" | "postgres" | "s3"> | null = await services(["nats", "postgres", "s3"]);
const t = svc ? test : test.skip;
const topology = freshTopology();
let orch: Awaited<ReturnType<typeof startInProcessOrchestrator>> | undefined;
let client: JetflowClient;
const cleanups: (() => Promise<void>)[] = [];

/** Runs whose worker body started, and the gates that let each finish. */
const started: string[] = [];
const gates = new Map<string, () => void>();
const release = (runId: string) => gates.get(runId)?.();
const held = defineStage({
  id: "work",
  name: "Work",
  schemas: { input: Input, output: Output, config: z.object({}) },
  async execute(ctx) {
    started.push(ctx.workflowRunId);
    await new Promise<void>((r) => gates.set(ctx.workflowRunId, r));
    return { output: { n: ctx.input.n } };
  },
});

const worker = (id: string, labels: Record<string, string> = {}) =>
  startSdkWorker(svc!.nats.url, {
    topology,
    queue: QUEUE,
    codeVersion: VERSION,
    cleanups,
    beforeStop: () => gates.forEach((r) => r()),
    registry: { work: held },
    workerId: id,
    labels,
    maxConcurrentTasks: 1,
    heartbeatIntervalMs: 200,
    fleetHeartbeatMs: 200,
  });

const create = (workflowId: string, n: number, priority?: number) =>
  client.createRun({ workflowId, input: { n }, idempotencyKey: `run-${n}`, ...(priority !== undefined ? { priority } : {}) });

const waitOf = async (workflowRunId: string): Promise<StageWaitJson | undefined> =>
  (await client.getRun({ workflowRunId })).waiting?.find((w) => w.stageId === "work");

/** Once the worker body started, `runs.get` has no waiting reason for the stage. */
async function startsAndStopsWaiting(workflowRunId: string): Promise<void> {
  await until(() => started.includes(workflowRunId), 30_000, `${workflowRunId} to start`);
  assert.is(await waitOf(workflowRunId), undefined, "no reason once the task started");
}

test.before(async () => {
  if (!svc) return;
  orch = await startInProcessOrchestrator(svc, {
    topology,
    workflows: new URL("./fixtures/wait-workflows.ts", import.meta.url),
    queue: QUEUE,
    codeVersion: VERSION,
  });
  client = orch.client;
});

test.after(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await orch?.stop();
  await svc?.stop();
});

t("a labelled task with only unlabelled workers live waits for a worker with its labels, and runs once one joins", async () => {
  await worker("plain-1");
  const { workflowRunId } = await create("gpu", 1);
  const w = await waitShown(
    client,
    workflowRunId,
    "no-worker",
    'no live worker of queue "default" version "v1" has the labels gpu=true (1 live worker(s) lack them)',
  );
  assert.is(w.retryAt, null);

  await worker("gpu-1", { gpu: "true" });
  await startsAndStopsWaiting(workflowRunId);
  release(workflowRunId);
});

t("a task behind a busy worker is workers-busy, behind queued high-priority tasks lower-priority", async () => {
  // plain-1 and gpu-1 (one slot each) both serve unlabelled tasks: two held runs take both slots.
  const holdA = await create("plain", 10);
  const holdB = await create("plain", 11);
  await until(() => started.includes(holdA.workflowRunId) && started.includes(holdB.workflowRunId), 30_000, "both workers busy");

  const normal = await create("plain", 20);
  await waitShown(client, normal.workflowRunId, "workers-busy", "all 2 live worker(s) able to run it are busy: 2/2 slots in use");

  const highs = [];
  for (const n of [30, 31]) highs.push(await create("plain", n, 5));
  const low = await create("plain", 40, -1);
  await waitShown(client, normal.workflowRunId, "lower-priority", 'behind 2 pending high-priority task(s) on queue "default"');
  await waitShown(client, low.workflowRunId, "lower-priority", 'behind 3 pending higher-priority task(s) on queue "default"');

  // Free the slots: the two high tasks start first, then the normal one, then the low one.
  release(holdA.workflowRunId);
  release(holdB.workflowRunId);
  for (const h of highs) await startsAndStopsWaiting(h.workflowRunId);
  for (const h of highs) release(h.workflowRunId);
  await startsAndStopsWaiting(normal.workflowRunId);
  release(normal.workflowRunId);
  await startsAndStopsWaiting(low.workflowRunId);
  release(low.workflowRunId);
});

test.run();

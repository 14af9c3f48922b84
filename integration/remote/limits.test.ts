// test-file-timeout-ms: 240000
// A concurrency key on a REMOTE stage, end to end: a real orchestrator in process (Postgres,
// JetStream job transport, broker, S3, the API) and two worker-SDK workers with 4 slots each, so
// the workers' capacity (8) is not what binds. The stage allows 2 tasks per tenant at once: with
// tenant A's tasks held, a third A task waits ("concurrency ... 2/2 running") while tenant B's
// tasks still start; then every task runs to completion and no tenant ever had more than 2 tasks
// in flight on the workers.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { services, type Services } from "../harness/index.js";
import type { JetflowClient } from "../../adapters/jetstream/api/client.js";
import type { StageWaitJson } from "../../src/contract/api-messages.js";
import { defineStage } from "../../src/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { until } from "./helpers.js";
import { startInProcessOrchestrator, startSdkWorker, waitShown as shown } from "./in-process-orchestrator.js";
import { Input, Output, QUEUE, VERSION } from "./fixtures/wait-workflows.js";

const svc: Services<"nats" | "postgres" | "s3"> | null = await services(["nats", "postgres", "s3"]);
const t = svc ? test : test.skip;
const topology = freshTopology();
let orch: Awaited<ReturnType<typeof startInProcessOrchestrator>> | undefined;
let client: JetflowClient;
const cleanups: (() => Promise<void>)[] = [];

/** What the workers saw: starts per run, tasks in flight per tenant now and at their peak. */
const started: { runId: string; tenant: string }[] = [];
const inFlight = new Map<string, number>();
const peak = new Map<string, number>();
/** Held tasks wait on their gate; once `flowing`, a task does a short piece of work and finishes. */
const gates = new Map<string, () => void>();
let flowing = false;

const work = defineStage({
  id: "work",
  name: "Work",
  schemas: { input: Input, output: Output, config: z.object({}) },
  async execute(ctx) {
    const tenant = ctx.input.tenant ?? "";
    started.push({ runId: ctx.workflowRunId, tenant });
    const now = (inFlight.get(tenant) ?? 0) + 1;
    inFlight.set(tenant, now);
    peak.set(tenant, Math.max(peak.get(tenant) ?? 0, now));
    try {
      if (flowing)
        await new Promise((r) => setTimeout(r, 80)); // the task's own work
      else await new Promise<void>((r) => gates.set(ctx.workflowRunId, r));
    } finally {
      inFlight.set(tenant, inFlight.get(tenant)! - 1);
    }
    return { output: { n: ctx.input.n } };
  },
});

const worker = (id: string) =>
  startSdkWorker(svc!.nats.url, {
    topology,
    queue: QUEUE,
    codeVersion: VERSION,
    cleanups,
    beforeStop: () => gates.forEach((r) => r()),
    registry: { work },
    workerId: id,
    maxConcurrentTasks: 4,
    heartbeatIntervalMs: 500,
  });

let n = 0;
const create = async (tenant: string) =>
  (await client.createRun({ workflowId: "per-tenant", input: { tenant, n: ++n }, idempotencyKey: `run-${n}` })).workflowRunId;
/** Distinct runs of `tenant` whose task a worker started. */
const startedOf = (tenant: string) => [...new Set(started.filter((s) => s.tenant === tenant).map((s) => s.runId))];

test.before(async () => {
  if (!svc) return;
  orch = await startInProcessOrchestrator(svc, {
    topology,
    workflows: new URL("./fixtures/wait-workflows.ts", import.meta.url),
    queue: QUEUE,
    codeVersion: VERSION,
  });
  client = orch.client;
  await worker("w1");
  await worker("w2");
});

test.after(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await orch?.stop();
  await svc?.stop();
});

t("maxConcurrent 2 per tenant on a remote stage: 2 tasks of a tenant on the workers at once, other tenants still progress", async () => {
  const a: string[] = [];
  for (let i = 0; i < 6; i++) a.push(await create("a"));
  await until(() => startedOf("a").length >= 2, 30_000, "two of tenant a's tasks to start");
  // The third A task is parked by the limit, with 6 free worker slots.
  const third = a.find((id) => !started.some((s) => s.runId === id))!;
  const wait = await shown(client, third, "concurrency");
  assert.match(wait.detail, /concurrency key "a" of "queue:default#concurrency" full: 2\/2 running/);

  // Tenant B is not held up by A's full key: two of its tasks start while A's two still run.
  const b: string[] = [];
  for (let i = 0; i < 3; i++) b.push(await create("b"));
  await until(() => startedOf("b").length >= 2, 30_000, "two of tenant b's tasks to start");
  assert.is(inFlight.get("a"), 2, "A's two tasks still in flight");
  assert.is(startedOf("a").length, 2, "no third A task started");
  assert.is(
    (
      await shown(
        client,
        b.find((id) => !started.some((s) => s.runId === id))!,
        "concurrency",
      )
    ).reason,
    "concurrency",
  );

  // Let everything run: held tasks finish, the rest run a short piece of work each.
  flowing = true;
  for (const r of gates.values()) r();
  const all = [...a, ...b];
  await until(
    async () => {
      for (const id of all) if ((await client.getRun({ workflowRunId: id })).run.status !== "COMPLETED") return false;
      return true;
    },
    120_000,
    "all 9 runs to complete",
  );
  console.log(`remote limits: peak in flight a=${peak.get("a")} b=${peak.get("b")}; starts ${started.length}`);
  assert.is(startedOf("a").length, 6);
  assert.is(startedOf("b").length, 3);
  assert.is(peak.get("a"), 2, "tenant a: at most (and at some point exactly) 2 in flight");
  assert.ok(peak.get("b")! <= 2, `tenant b: ${peak.get("b")} in flight at once`);
});

test.run();

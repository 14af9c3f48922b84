/**
 * `npm run demo`: the real system on the `jetflow dev` stack, started here and stopped at the end.
 * Postgres, NATS (operator mode), S3, an orchestrator and two credential-free worker processes
 * (one labelled gpu=true); one run submitted over NATS request/reply and followed live; then a
 * summary. `--chaos` freezes the worker running a task past its lease: the task is redelivered to
 * the other worker and the frozen one's late report is refused (fencing).
 */
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { trace } from "@opentelemetry/api";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { startTelemetry } from "../../otel/start.js";
import { telemetryRequested } from "../../otel/env.js";
import { startDevStack, type DevStack } from "../../cli/dev/stack.js";
import { EXAMPLE_WORKFLOW_ID } from "../../cli/dev/example/workflows.js";
import { createJetflowClient } from "../../adapters/jetstream/api/client.js";
import { watchRun } from "../../adapters/jetstream/api/watch-run.js";
import { createS3Presigner } from "../../adapters/s3/presigner.js";
import { createProgressView, type ProgressView } from "./progress.js";
import { printSummary } from "./summary.js";

const RUN_TIMEOUT_MS = 60_000;
const STAGES = [
  { stageId: "fetch-document", group: 0, kind: "local" },
  { stageId: "word-stats", group: 1, kind: "remote (any worker)" },
  { stageId: "render-cover", group: 1, kind: "remote (any worker)" },
  { stageId: "summarize", group: 1, kind: "local" },
  { stageId: "translate-batch", group: 2, kind: "async-batch" },
  { stageId: "report", group: 3, kind: "local" },
];

const args = process.argv.slice(2);
const chaos = args.includes("--chaos");
const documentId = args.find((a) => !a.startsWith("--")) ?? "durable-execution";
const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const t0 = Date.now();
  // Without OTEL_* configuration, spans go to a local sink that accepts OTLP and keeps nothing:
  // the SDK records the run's trace (so it has a real trace id) without needing a collector.
  const sink = telemetryRequested() ? undefined : await startOtlpSink();
  const telemetry = startTelemetry({ serviceName: "jetflow-demo" });
  const dir = resolve(".jetflow", "demo");
  const chaosFile = join(dir, "chaos.jsonl");
  let stack: DevStack | undefined;
  let nc: NatsConnection | undefined;
  let view: ProgressView | undefined;
  const refused: string[] = [];
  let interruptedAt = 0;
  const onSignal = () => {
    // One Ctrl+C can arrive twice (the terminal's group signal, and tsx/npm relaying it):
    // only a signal well after the first one means "force".
    if (interruptedAt && Date.now() - interruptedAt > 2_000) process.exit(130); // the stack's exit hook kills what is left
    if (interruptedAt) return;
    interruptedAt = Date.now();
    say("\ninterrupted: stopping every process the demo started");
    void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    say(`jetflow demo${chaos ? " --chaos" : ""}: starting Postgres, NATS, S3, an orchestrator and two worker processes in ${dir}`);
    stack = await startDevStack({
      dir,
      ports: { nats: 0, postgres: 0, s3: 0, health: 0, console: 0 },
      workers: [
        { id: "worker-gpu", labels: "gpu=true" },
        { id: "worker-cpu", labels: "gpu=false" },
      ],
      leaseMs: 2_000,
      log: (l) => say(`  ${l}`),
      // The workers export nothing when the demo set up the sink for itself.
      workerEnv: { JETFLOW_DEMO_CHAOS_FILE: chaosFile, ...(sink ? sink.clearEnv : {}) },
      onOrchestratorLog: (line) => {
        if (line.includes('"remote report refused"')) refused.push(line);
      },
    });
    writeFileSync(chaosFile, "");
    say(`  ready in ${((Date.now() - t0) / 1000).toFixed(1)} s:`);
    say(`    NATS ${stack.urls.nats}   Postgres ${stack.urls.postgres}   S3 ${stack.urls.s3}`);
    for (const w of stack.workers) say(`    worker process ${w.id} (pid ${w.pid}, labels ${w.labels}), scoped credential ${w.credsFile}`);

    nc = await connect({
      servers: stack.urls.nats,
      authenticator: credsAuthenticator(readFileSync(stack.cliCreds!)),
      name: "jetflow-demo",
    });
    const client = createJetflowClient(nc, { timeoutMs: 10_000 });
    const input = { documentId, chaos };
    // The submission's CLIENT span is the root of the run's trace.
    const { created, traceId } = await trace.getTracer("jetflow-demo").startActiveSpan("demo run", async (span) => {
      try {
        const r = await client.createRun({ workflowId: EXAMPLE_WORKFLOW_ID, input, idempotencyKey: randomUUID() });
        return { created: r, traceId: span.spanContext().traceId };
      } finally {
        span.end();
      }
    });
    const runId = created.workflowRunId;
    say(`\nrun ${runId} submitted over NATS request/reply (jetflow.api.runs.create); trace ${traceId}\n`);
    view = createProgressView(STAGES);
    const chaosDone = chaos ? runChaos(stack, chaosFile, runId, view, refused) : Promise.resolve();
    const result = await watchRun(nc, client, runId, {
      prefix: "jetflow",
      timeoutMs: RUN_TIMEOUT_MS,
      onEvent: (e) => {
        const s = e.stageId ?? "";
        if (e.type === "stage:started") view!.update(s, "running");
        else if (e.type === "stage:suspended")
          view!.update(
            s,
            "suspended",
            STAGES.find((x) => x.stageId === s)?.kind.startsWith("remote") ? "task queued for a worker" : "batch submitted",
          );
        else if (e.type === "stage:resumed") view!.update(s, "running");
        else if (e.type === "stage:completed") view!.update(s, "completed", "");
        else if (e.type === "stage:retrying") view!.update(s, "retrying", String(e.data.error ?? ""));
        else if (e.type === "stage:failed") view!.update(s, "failed", String(e.data.error ?? ""));
      },
    });
    await chaosDone;
    view.close();
    const run = await client.getRun({ workflowRunId: runId, logs: 0 });
    const presigner = createS3Presigner({
      bucket: stack.s3.bucket,
      clientConfig: {
        region: stack.s3.region,
        endpoint: stack.s3.endpoint,
        forcePathStyle: true,
        ...(stack.s3.accessKeyId ? { credentials: { accessKeyId: stack.s3.accessKeyId, secretAccessKey: stack.s3.secretAccessKey! } } : {}),
      },
    });
    const ok = await printSummary({ result, run, stack, traceId, presigner, elapsedMs: Date.now() - t0, chaos, refused, say });
    return ok && result.status === "COMPLETED" ? 0 : 1;
  } finally {
    view?.close();
    await nc?.close();
    if (stack) {
      say("\nstopping workers, orchestrator, NATS, S3 and Postgres …");
      const t1 = Date.now();
      await stack.stop();
      say(`all demo processes stopped (${((Date.now() - t1) / 1000).toFixed(1)} s).`);
    }
    rmSync(chaosFile, { force: true });
    await telemetry.shutdown();
    await sink?.close();
  }
}

/** An OTLP/HTTP endpoint on 127.0.0.1 that answers 200 and drops the spans; points the SDK at it. */
async function startOtlpSink(): Promise<{ close(): Promise<void>; clearEnv: NodeJS.ProcessEnv }> {
  const server = createServer((req, res) => {
    req.resume();
    // An empty ExportTraceServiceResponse: full success.
    req.on("end", () => res.writeHead(200, { "content-type": "application/x-protobuf" }).end());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const env = {
    OTEL_TRACES_EXPORTER: "otlp",
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/v1/traces`,
    OTEL_METRICS_EXPORTER: "none",
    OTEL_LOGS_EXPORTER: "none",
  };
  Object.assign(process.env, env);
  return {
    clearEnv: Object.fromEntries(Object.keys(env).map((k) => [k, ""])),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * --chaos: waits for attempt 1 of word-stats to start on a worker, freezes that process (to the
 * system it is dead: no heartbeats), lets the lease lapse and the task go to the other worker,
 * then thaws it: its attempt finishes and reports late, and the broker refuses the report.
 */
async function runChaos(stack: DevStack, file: string, runId: string, view: ProgressView, refused: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  let marker: { worker: string; pid: number } | undefined;
  while (!marker && Date.now() < deadline) {
    const line = existsSync(file)
      ? readFileSync(file, "utf8")
          .split("\n")
          .find((l) => l.includes(runId))
      : undefined;
    if (line) marker = JSON.parse(line) as { worker: string; pid: number };
    else await delay(25);
  }
  if (!marker) return view.event("chaos: word-stats never started on a worker");
  const victim = stack.workers.find((w) => w.pid === marker!.pid);
  if (!victim) return view.event(`chaos: word-stats runs in an unknown process ${marker.pid}`);
  victim.pause();
  view.event(`chaos: froze ${victim.id} (pid ${victim.pid}, SIGSTOP) mid-task: no heartbeats, its 2 s lease will lapse`);
  view.update("word-stats", "running", `attempt 1 on ${victim.id} is frozen; waiting for redelivery`);
  // Thawed once the stage completed elsewhere (or after a bound), so its late report can be refused.
  const thawBy = Date.now() + 30_000;
  const client = stack.orchestrator.kernel;
  while (Date.now() < thawBy) {
    const view2 = await client.runs.get(runId);
    if (view2?.stages.find((s) => s.stageId === "word-stats")?.status === "COMPLETED") break;
    await delay(100);
  }
  victim.resume();
  view.event(`chaos: thawed ${victim.id}: its attempt 1 finishes late and reports`);
  const refusedBy = Date.now() + 20_000;
  while (refused.length === 0 && Date.now() < refusedBy) await delay(50);
  if (refused.length > 0) {
    const r = JSON.parse(refused[0]!) as { attempt?: number; workerId?: string; error?: string };
    view.event(`chaos: broker REFUSED the late report of attempt ${r.attempt} from ${r.workerId} (fenced: ${r.error ?? "superseded"})`);
  } else view.event("chaos: no refusal of the late report seen within 20 s");
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

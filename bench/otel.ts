/**
 * What OpenTelemetry instrumentation costs. One workload, each mode in its own process:
 * N runs of a two-stage workflow through the kernel (in-memory adapters, the host loop played
 * by the test driver) plus M remote activities through the broker and an in-process worker
 * (activity.dispatch/execute/report.apply spans, all metrics).
 *
 *   off       no SDK (jetflow's default: @opentelemetry/api without a provider)
 *   unsampled SDK installed, OTEL_TRACES_SAMPLER=always_off, metrics exporter none
 *   exporting SDK installed, every span sampled and exported over OTLP/HTTP to a local sink
 *
 * Prints units/s per mode (best over rounds and interleaved processes) and each mode's ratio
 * against `off`, plus the spread of the `off` processes as the noise floor.
 *
 *   npx tsx bench/otel.ts [runs=200] [tasks=1000]
 */
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { createActivityWorker } from "../worker-sdk/index.js";
import { makeEnv, stage, workflow } from "../test/kernel/support/harness.js";
import { makeFixture, spec, stage as remoteStage } from "../test/remote/helpers/fixture.js";
import { startTelemetry, type Telemetry } from "../otel/index.js";

const RUNS = Number(process.argv[2] ?? 200);
const TASKS = Number(process.argv[3] ?? 1000);
const ROUNDS = 3;
const mode = process.env.BENCH_OTEL_MODE;

/** Runs in batches of 50, a fresh kernel per batch: the in-memory adapters scan, so big stores would measure them, not tracing. */
async function kernelRound(n: number): Promise<void> {
  const a = stage({ id: "a", execute: async (ctx) => ({ output: { v: (ctx.input as { n: number }).n + 1 } }) });
  const b = stage({ id: "b", execute: async () => ({ output: { done: true } }) });
  for (let i = 0; i < n; i += 50) {
    const env = makeEnv([workflow("wf", [a, b])]);
    const size = Math.min(50, n - i);
    await Promise.all(Array.from({ length: size }, (_, k) => env.create("wf", { n: i + k })));
    await env.drain({ maxJobs: 1000 });
    const done = await env.kernel.runs.list({ status: ["COMPLETED"], limit: size });
    if (done.length !== size) throw new Error(`kernel round: ${done.length}/${size} runs completed`);
  }
}

/** Tasks in batches of 100, a fresh broker and worker per batch (same reason as above). */
async function remoteRound(m: number, round: number): Promise<void> {
  const heavy = remoteStage("heavy", async (ctx) => ({ output: { r: ctx.input.n * 2 } }));
  for (let i = 0; i < m; i += 100) {
    const f = await makeFixture();
    const w = createActivityWorker({
      transport: f.transport.worker,
      queue: "q",
      stageCodeVersion: "v1",
      registry: { heavy },
      workerId: "w",
      pollWaitMs: 50,
      maxConcurrentTasks: 16,
    });
    w.start();
    try {
      await Promise.all(
        Array.from({ length: Math.min(100, m - i) }, async (_, k) => {
          const taskId = await f.broker.submit(spec({ workflowRunId: `r${round}-${i + k}`, input: { n: i + k } }));
          const out = await f.broker.waitForOutcome(taskId, { timeoutMs: 10_000 });
          if (out?.status !== "completed") throw new Error(`task ${taskId}: ${out?.status}`);
        }),
      );
    } finally {
      await w.stop({ drain: false });
      await f.close();
    }
  }
}

async function child(): Promise<void> {
  let telemetry: Telemetry | null = null;
  let sink: ReturnType<typeof createServer> | null = null;
  if (mode === "unsampled") {
    Object.assign(process.env, {
      OTEL_TRACES_SAMPLER: "always_off",
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_METRICS_EXPORTER: "none",
      OTEL_LOGS_EXPORTER: "none",
    });
    telemetry = startTelemetry({ serviceName: "bench" });
  } else if (mode === "exporting") {
    sink = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    });
    await new Promise<void>((r) => sink!.listen(0, "127.0.0.1", r));
    Object.assign(process.env, {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_LOGS_EXPORTER: "none",
      OTEL_METRIC_EXPORT_INTERVAL: "1000",
    });
    telemetry = startTelemetry({ serviceName: "bench" });
  }
  await kernelRound(100); // warm-up (JIT, module loading)
  await remoteRound(50, -1);
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    await kernelRound(RUNS);
    await remoteRound(TASKS, r);
    best = Math.min(best, performance.now() - t0);
  }
  await telemetry?.shutdown();
  sink?.closeAllConnections();
  sink?.close();
  process.stdout.write(`${JSON.stringify({ mode, ms: best })}\n`);
}

/** Modes interleaved REPS times (a busy machine slows all of them alike); best per mode. */
function parent(): void {
  const modes = ["off", "unsampled", "exporting"];
  const REPS = 3;
  const runs: Record<string, number[]> = { off: [], unsampled: [], exporting: [] };
  for (let rep = 0; rep < REPS; rep++) {
    for (const m of modes) {
      const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), String(RUNS), String(TASKS)], {
        env: { ...process.env, BENCH_OTEL_MODE: m, OTEL_SDK_DISABLED: "", OTEL_EXPORTER_OTLP_ENDPOINT: "" },
        encoding: "utf8",
      });
      if (r.status !== 0) throw new Error(`mode ${m} failed (${r.status}): ${r.stderr}`);
      runs[m]!.push((JSON.parse(r.stdout.trim().split("\n").pop()!) as { ms: number }).ms);
    }
  }
  const best = (m: string) => Math.min(...runs[m]!);
  const base = best("off");
  const work = RUNS + TASKS;
  console.log(
    `${RUNS} kernel runs (2 stages) + ${TASKS} remote activities, best of ${ROUNDS} rounds x ${REPS} interleaved processes per mode`,
  );
  console.log(`noise floor: the off processes spread ${(Math.min(...runs.off!) / Math.max(...runs.off!)).toFixed(3)} (best/worst)`);
  for (const m of modes) {
    console.log(
      `${m.padEnd(10)} ${Math.round((work / best(m)) * 1000)} units/s (${best(m).toFixed(0)} ms)  ratio vs off: ${(base / best(m)).toFixed(3)}`,
    );
  }
}

if (mode) await child();
else parent();

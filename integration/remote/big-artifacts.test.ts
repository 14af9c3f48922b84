// Artifacts larger than the worker's memory budget, end to end: a `jetflow worker` PROCESS on the
// repository's nats-server (scoped worker user) uploads a sparse file with ctx.artifacts.putFile
// through presigned multipart URLs to the harness's S3 server (SigV4 verified), downloads it again
// with getToFile, and the files' sha256 match (streamed) while the process's resident memory grows
// by far less than the file. CI size by default; JETFLOW_BIG_ARTIFACT=1 runs the 6 GiB case of
// issue 19 (needs ~12 GiB of free disk) and prints its figures.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, mkdtempSync, openSync, closeSync, rmSync, truncateSync, writeSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { REPO_NATS_PASSWORDS, services, useRepoNats, type NatsService, type Services } from "../harness/index.js";
import { createTopology } from "../../src/contract/topology.js";
import { createS3Presigner, type S3Presigner } from "../../adapters/s3/index.js";
import { spec } from "../../test/remote/helpers/fixture.js";
import { startOrchestrator, until, type Orchestrator } from "./helpers.js";
import { startWorkerProcess, type WorkerProcess } from "./worker-process.js";
import { adapterClientConfig } from "../s3/helpers.js";

const MiB = 1024 * 1024;
const BIG = process.env.JETFLOW_BIG_ARTIFACT === "1";
const SIZE = BIG ? 6 * 1024 * MiB : 400 * MiB;
/**
 * How much the worker's RSS may grow from the moment the stage starts (its activity thread, some
 * 60 MiB of its own V8 isolate, already up) to the peak: buffering the file, or even the four
 * 64 MiB parts in flight, would blow it.
 */
const TRANSFER_GROWTH_LIMIT = 100 * MiB;
/** The process's peak: issue 19's bound for the 6 GiB case; for CI, the idle worker plus a thread plus the transfers' bound. */
const PEAK_LIMIT = 300 * MiB;
const DEADLINE_MS = BIG ? 900_000 : 45_000;

const nats: NatsService | null = await useRepoNats("integration/remote/big-artifacts");
let svc: Services<"s3"> | null = null;
if (nats) svc = await services(["s3"]);
const t = nats && svc ? test : test.skip;

let presigner: S3Presigner;
let orch: Orchestrator;
let worker: WorkerProcess | undefined;
let dir = "";

test.before(async () => {
  if (!nats || !svc) return;
  dir = mkdtempSync(join(tmpdir(), "jetflow-big-artifact-"));
  presigner = createS3Presigner({
    bucket: svc.s3.bucket,
    clientConfig: adapterClientConfig(svc.s3),
  });
  orch = await startOrchestrator({
    url: nats.url,
    topology: createTopology(),
    queue: "default",
    codeVersion: "v1",
    leaseMs: 30_000,
    maxDeliver: 1,
    connect: { user: "orchestrator", pass: REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD },
    presigner,
  });
  // The id the repository's NATS permissions give the worker user (its own registry entry and control subjects).
  worker = await startWorkerProcess(
    "worker-default",
    [
      "--queue",
      "default",
      "--code-version",
      "v1",
      "--module",
      new URL("./fixtures/big-artifact-stages.ts", import.meta.url).pathname,
      "--servers",
      nats.url,
      "--user",
      "worker-default",
      "--password",
      REPO_NATS_PASSWORDS.JETFLOW_WORKER_DEFAULT_PASSWORD,
      "--poll-ms",
      "500",
    ],
    process.env,
  );
});

test.after(async () => {
  await worker?.stop(10_000);
  await orch?.close();
  presigner?.close();
  await svc?.stop();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A sparse file of `size` bytes with random 4 KiB blocks every 13 MiB, so a misplaced part changes the hash. */
function sparseFile(path: string, size: number): void {
  const fd = openSync(path, "w");
  try {
    truncateSync(path, size);
    for (let at = 12_345; at + 4096 <= size; at += 13 * MiB) writeSync(fd, randomBytes(4096), 0, 4096, at);
  } finally {
    closeSync(fd);
  }
}

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(createReadStream(path, { highWaterMark: MiB }), h);
  return h.digest("hex");
}

/** A field of /proc/<pid>/status in bytes (VmRSS: now, VmHWM: the peak since the process started). */
function procStatus(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

t(
  `putFile/getToFile move ${SIZE / MiB} MiB through presigned multipart, the transfers growing the worker's RSS < ${TRANSFER_GROWTH_LIMIT / MiB} MiB`,
  async () => {
    const src = join(dir, "src.bin");
    const dst = join(dir, "dst.bin");
    sparseFile(src, SIZE);
    const pid = worker!.pid;
    const baseline = procStatus(pid, "VmRSS");
    const hwmBefore = procStatus(pid, "VmHWM");
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, procStatus(pid, "VmRSS"));
    }, 50);
    const started = Date.now();
    let rssAtStart = 0;
    try {
      const id = await orch.broker.submit(
        spec({
          stageId: "round-trip",
          queue: "default",
          codeVersion: "v1",
          input: { src, dst },
          maxUploadBytes: SIZE + MiB,
          maxAttempts: 1,
        }),
      );
      await until(async () => (await orch.broker.getOutcome(id))?.status !== "pending", DEADLINE_MS, "the round trip to end");
      const o = (await orch.broker.getOutcome(id))!;
      assert.is(o.status, "completed", `${o.error ?? ""}\n${worker!.log().slice(-2_000)}`);
      rssAtStart = (o.output as { rssAtStartBytes: number }).rssAtStartBytes;
    } finally {
      clearInterval(sampler);
    }
    const elapsedMs = Date.now() - started;
    const hwm = procStatus(pid, "VmHWM");
    peak = Math.max(peak, procStatus(pid, "VmRSS"));
    const [a, b] = [await sha256File(src), await sha256File(dst)];
    assert.is(b, a, "the downloaded file is the uploaded one");
    const figures = {
      sizeMiB: SIZE / MiB,
      elapsedMs,
      baselineRssMiB: Math.round(baseline / MiB),
      stageStartRssMiB: Math.round(rssAtStart / MiB),
      peakRssMiB: Math.round(peak / MiB),
      vmHwmMiB: Math.round(hwm / MiB),
      vmHwmBeforeMiB: Math.round(hwmBefore / MiB),
      transferGrowthMiB: Math.round((Math.max(peak, hwm) - rssAtStart) / MiB),
    };
    console.log(`big-artifacts: ${JSON.stringify(figures)}`);
    assert.ok(rssAtStart > 0, "the stage measured its starting RSS");
    assert.ok(
      Math.max(peak, hwm) - rssAtStart < TRANSFER_GROWTH_LIMIT,
      `the transfers grew RSS ${figures.transferGrowthMiB} MiB: ${JSON.stringify(figures)}`,
    );
    assert.ok(Math.max(peak, hwm) < PEAK_LIMIT, `worker peak RSS ${figures.vmHwmMiB} MiB: ${JSON.stringify(figures)}`);
  },
);

test.run();

// Bounded uploads, end to end on the real stack: NATS with the repository's permissions (the worker
// connects as the scoped worker user), the broker's Postgres task store, and an S3 server that
// verifies SigV4. The worker is an adversary holding its credential and its presigned URLs: it
// may declare any size and send any body.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { REPO_NATS_PASSWORDS, s3ClientConfig, services, useRepoNats, type NatsService, type Services } from "../harness/index.js";
import { createTopology } from "../../src/contract/topology.js";
import { createS3Presigner, type S3Presigner } from "../../adapters/s3/index.js";
import type { PostgresActivityTaskStore } from "../../adapters/postgres/activity-task-store.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { ArtifactTooLargeError, createActivityWorker, createRemoteArtifacts, silentWorkerLogger } from "../../worker-sdk/index.js";
import type { LeasedTask, WorkerTransport } from "../../worker-sdk/transport.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import { postgresTaskStore, startOrchestrator, type Orchestrator } from "./helpers.js";
import { adapterClientConfig } from "../s3/helpers.js";

const MiB = 1024 * 1024;
const LIMIT = MiB;
const topology = createTopology();

const nats: NatsService | null = await useRepoNats("integration/remote/upload-limits");
let svc: Services<"postgres" | "s3"> | null = null;
if (nats) svc = await services(["postgres", "s3"]);
const t = nats && svc ? test : test.skip;

let pg: Awaited<ReturnType<typeof postgresTaskStore>>;
let presigner: S3Presigner;
let orch: Orchestrator<PostgresActivityTaskStore>;
let workerNc: NatsConnection;
let transport: WorkerTransport;
let s3: S3Client;
let run = 0;

test.before(async () => {
  if (!nats || !svc) return;
  pg = await postgresTaskStore(svc.postgres.url);
  presigner = createS3Presigner({
    bucket: svc.s3.bucket,
    clientConfig: adapterClientConfig(svc.s3),
  });
  orch = await startOrchestrator({
    url: nats.url,
    topology,
    queue: "default",
    codeVersion: "v1",
    // Leased tasks the adversary never reports must not come back mid-file: one delivery, a long lease.
    leaseMs: 60_000,
    maxDeliver: 1,
    connect: { user: "orchestrator", pass: REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD },
    taskStore: pg.store,
    presigner,
  });
  workerNc = await connect({
    servers: nats.url,
    user: "worker-default",
    pass: REPO_NATS_PASSWORDS.JETFLOW_WORKER_DEFAULT_PASSWORD,
    inboxPrefix: "_INBOX_worker-default",
  });
  transport = createNatsWorkerTransport(workerNc, { topology, queue: "default", codeVersion: "v1" });
  s3 = new S3Client(s3ClientConfig(svc.s3));
});

test.after(async () => {
  await transport?.close?.();
  await workerNc?.close();
  await orch?.close();
  presigner?.close();
  s3?.destroy();
  await pg?.close();
  await svc?.stop();
  await nats?.stop();
});

/** Submits a task limited to `maxUploadBytes` and takes its delivery as the worker (the lease an adversary holds). */
async function leased(maxUploadBytes: number): Promise<LeasedTask> {
  const workflowRunId = `run-up-${++run}`;
  await orch.broker.submit(spec({ workflowRunId, queue: "default", codeVersion: "v1", maxUploadBytes }));
  const lease = await transport.next("default", { workerId: "w-adv", codeVersion: "v1", labels: {}, waitMs: 10_000 });
  assert.ok(lease, "a task was delivered");
  assert.is(lease.task.workflowRunId, workflowRunId);
  return lease;
}

async function refusal(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  return p.then(
    (): never => assert.unreachable("expected a refusal") as never,
    (e: unknown) => e as { code?: string; message: string },
  );
}

async function exists(key: string): Promise<boolean> {
  return s3.send(new HeadObjectCommand({ Bucket: svc!.s3.bucket, Key: key })).then(
    () => true,
    () => false,
  );
}

const put = (url: string, body: Uint8Array | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
  fetch(url, { method: "PUT", body, headers, duplex: "half" } as RequestInit).then(async (r) => ({
    status: r.status,
    text: await r.text(),
  }));

t("the task records its limit (Postgres) and carries it to the worker; the stage's limit wins over the broker's default", async () => {
  const lease = await leased(LIMIT);
  assert.is(lease.task.maxUploadBytes, LIMIT);
  assert.is((await pg.store.getTask(lease.task.taskId))?.maxUploadBytes, LIMIT);
  // A spec without a limit gets the broker's default (5 GiB), recorded and carried too.
  await orch.broker.submit(spec({ workflowRunId: `run-up-${++run}`, queue: "default", codeVersion: "v1" }));
  const dflt = await transport.next("default", { workerId: "w-adv", codeVersion: "v1", labels: {}, waitMs: 10_000 });
  assert.is(dflt?.task.maxUploadBytes, 5 * 1024 * MiB);
  assert.is((await pg.store.getTask(dflt!.task.taskId))?.maxUploadBytes, 5 * 1024 * MiB);
});

t(
  "(a) a presign declaring more than the limit is refused, PUT and multipart, naming the limit; an undeclared size is refused",
  async () => {
    const lease = await leased(LIMIT);
    for (const req of [
      { op: "put" as const, key: "big.bin", size: LIMIT + 1 },
      { op: "multipart" as const, key: "big.bin", size: 64 * MiB, partSize: 5 * MiB },
    ]) {
      const err = await refusal(transport.presign(lease, req));
      assert.is(err.code, "VALIDATION", err.message);
      assert.match(err.message, `maxUploadBytes limit of ${LIMIT} bytes`);
    }
    // The orchestrator does not rely on the SDK's own checks: a raw request without a size is refused by the broker.
    const raw = await workerNc.request(
      `${topology.prefix}.broker.default.presign`,
      JSON.stringify({ taskId: lease.task.taskId, attempt: lease.attempt, leaseToken: lease.leaseToken, op: "put", key: "nosize.bin" }),
      { timeout: 5_000 },
    );
    const body = JSON.parse(new TextDecoder().decode(raw.data)) as { error?: { code: string; message: string } };
    assert.is(body.error?.code, "VALIDATION");
    assert.match(body.error!.message, /put needs size/);
  },
);

t("(b) a presigned PUT takes exactly the declared size: S3 refuses 64 MiB, one byte more or less, and a chunked body", async () => {
  const lease = await leased(LIMIT);
  const p = await transport.presign(lease, { op: "put", key: "out.bin", size: 1000 });
  assert.is(p.size, 1000);
  const chunked = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array(1000));
      c.close();
    },
  });
  for (const [what, body] of [
    ["64 MiB", new Uint8Array(64 * MiB)],
    ["1001 bytes", new Uint8Array(1001)],
    ["999 bytes", new Uint8Array(999)],
    ["1000 bytes chunked (no Content-Length)", chunked],
  ] as const) {
    const res = await put(p.url!, body, p.headers);
    assert.ok(res.status === 403 || res.status === 400, `${what}: HTTP ${res.status} ${res.text.slice(0, 200)}`);
    assert.is(await exists(p.key), false, `${what} stored nothing`);
  }
  // The mechanism: Content-Length is one of the signed headers.
  assert.match(new URL(p.url!).searchParams.get("X-Amz-SignedHeaders") ?? "", /(^|;)content-length(;|$)/);
  const ok = await put(p.url!, new Uint8Array(1000), p.headers);
  assert.is(ok.status, 200, ok.text);
  assert.is(await exists(p.key), true);
});

t("(b) multipart: each part URL takes exactly its size, and a completion short of the declared total is refused and deleted", async () => {
  const lease = await leased(16 * MiB);
  const size = 11 * MiB;
  const m = await transport.presign(lease, { op: "multipart", key: "multi.bin", size, partSize: 5 * MiB });
  assert.equal(
    m.parts!.map((x) => x.size),
    [5 * MiB, 5 * MiB, MiB],
  );
  const [p1, p2, p3] = m.parts!;
  // A bigger body than the part's signed size, on a full part and on the short last part.
  assert.is((await put(p1!.url, new Uint8Array(5 * MiB + 1))).status, 403);
  assert.is((await put(p3!.url, new Uint8Array(5 * MiB))).status, 403);
  const etags: { partNumber: number; etag: string }[] = [];
  for (const p of [p1!, p2!]) {
    const r = await fetch(p.url, { method: "PUT", body: new Uint8Array(p.size!) });
    assert.is(r.status, 200);
    await r.arrayBuffer();
    etags.push({ partNumber: p.partNumber, etag: r.headers.get("etag")! });
  }
  // Completing with 10 of the 11 declared MiB: the object is not what was declared.
  const err = await refusal(transport.presign(lease, { op: "complete", key: m.key, uploadId: m.uploadId!, parts: etags }));
  assert.is(err.code, "VALIDATION", err.message);
  assert.match(err.message, /differ from the 11534336 bytes declared/);
  assert.is(await exists(m.key), false, "the short object was deleted");

  // The honest path: every part at its size, completed, stored at the declared size.
  const again = await transport.presign(lease, { op: "multipart", key: "multi2.bin", size, partSize: 5 * MiB });
  const all = [];
  for (const p of again.parts!) {
    const r = await fetch(p.url, { method: "PUT", body: new Uint8Array(p.size!) });
    assert.is(r.status, 200);
    await r.arrayBuffer();
    all.push({ partNumber: p.partNumber, etag: r.headers.get("etag")! });
  }
  const done = await transport.presign(lease, { op: "complete", key: again.key, uploadId: again.uploadId!, parts: all });
  assert.is(done.size, size);
});

t("(c) the worker SDK refuses an over-limit put before any request (no presign, no HTTP), with a typed non-retryable error", async () => {
  const lease = await leased(LIMIT);
  let presigns = 0;
  const counting: WorkerTransport = { ...transport, presign: (l, r) => (presigns++, transport.presign(l, r)) };
  const realFetch = globalThis.fetch;
  let fetches = 0;
  globalThis.fetch = ((...args: Parameters<typeof fetch>) => (fetches++, realFetch(...args))) as typeof fetch;
  try {
    const artifacts = createRemoteArtifacts(counting, lease, {
      partSize: 5 * MiB,
      signal: new AbortController().signal,
      logger: silentWorkerLogger,
    });
    for (const n of [LIMIT + 1, 8 * MiB]) {
      const err = await refusal(artifacts.put("too-big.bin", new Uint8Array(n)));
      assert.instance(err, ArtifactTooLargeError);
      const e = err as ArtifactTooLargeError;
      assert.is(e.code, "ARTIFACT_TOO_LARGE");
      assert.is(e.retryable, false);
      assert.match(e.message, `maxUploadBytes limit of ${LIMIT} bytes`);
    }
    assert.is(presigns, 0);
    assert.is(fetches, 0);
    // (d) At the limit exactly, the same SDK uploads.
    const ok = await artifacts.put("at-limit.bin", new Uint8Array(LIMIT));
    assert.is(ok.size, LIMIT);
    assert.ok(presigns > 0 && fetches > 0);
  } finally {
    globalThis.fetch = realFetch;
  }
});

t(
  "(c, d) in a running worker: an over-limit put fails the task at once (not retried); uploads within the limit, single and multipart, complete",
  async () => {
    const w = createActivityWorker({
      transport,
      queue: "default",
      stageCodeVersion: "v1",
      workerId: "w-honest",
      pollWaitMs: 500,
      partSize: 5 * MiB,
      registry: {
        heavy: stage("heavy", async (ctx) => {
          const n = ctx.input.n as number;
          await ctx.artifacts.put("small.bin", new Uint8Array(MiB));
          await ctx.artifacts.put("multi.bin", new Uint8Array(n));
          return { output: { r: n } };
        }),
      },
    });
    w.start();
    try {
      const tooBig = await orch.broker.submit(
        spec({ workflowRunId: `run-up-${++run}`, queue: "default", codeVersion: "v1", input: { n: 13 * MiB }, maxUploadBytes: 12 * MiB }),
      );
      const failed = await orch.broker.waitForOutcome(tooBig, { timeoutMs: 20_000 });
      assert.is(failed?.status, "failed");
      assert.is(failed?.attempt, 1, "an over-limit upload is not retried");
      assert.match(failed?.error ?? "", /maxUploadBytes limit of 12582912 bytes/);

      const runId = `run-up-${++run}`;
      const fine = await orch.broker.submit(
        spec({ workflowRunId: runId, queue: "default", codeVersion: "v1", input: { n: 11 * MiB }, maxUploadBytes: 12 * MiB }),
      );
      const done = await orch.broker.waitForOutcome(fine, { timeoutMs: 30_000 });
      assert.is(done?.status, "completed", done?.error);
      const head = await s3.send(new HeadObjectCommand({ Bucket: svc!.s3.bucket, Key: `runs/${runId}/heavy/1/multi.bin` }));
      assert.is(head.ContentLength, 11 * MiB);
    } finally {
      await w.stop();
    }
  },
);

test.run();

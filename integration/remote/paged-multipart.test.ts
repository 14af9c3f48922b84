// test-file-timeout-ms: 240000
// Multipart uploads with part URLs in pages, end to end on the real stack: NATS with the
// repository's permissions (the worker is the scoped worker user), the broker's Postgres task
// store, and an S3 server that verifies SigV4 and refuses expired URLs. URLs live 2 s and a page
// holds 3 parts, so an upload of 7 parts of 5 MiB (S3's minimum) crosses pages and outlives
// its first URLs; the bytes read back must hash the same.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { REPO_NATS_PASSWORDS, services, useRepoNats, type NatsService, type Services } from "../harness/index.js";
import { createTopology } from "../../src/contract/topology.js";
import { PRESIGN_PAGE_MAX_PARTS, PRESIGN_REPLY_BUDGET_BYTES } from "../../src/contract/multipart-limits.js";
import { fitPage } from "../../src/remote/broker-multipart.js";
import { createS3Presigner, type S3Presigner } from "../../adapters/s3/index.js";
import type { PostgresActivityTaskStore } from "../../adapters/postgres/activity-task-store.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { createRemoteArtifacts, silentWorkerLogger } from "../../worker-sdk/index.js";
import type { LeasedTask, WorkerTransport } from "../../worker-sdk/transport.js";
import type { PresignCall } from "../../src/contract/worker-transport.js";
import { spec } from "../../test/remote/helpers/fixture.js";
import { postgresTaskStore, startOrchestrator, until, type Orchestrator } from "./helpers.js";
import { adapterClientConfig } from "../s3/helpers.js";

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const PARTS = 7;
const SIZE = (PARTS - 1) * PART + 123_457;
const EXPIRES_SEC = 2;
const topology = createTopology();

const nats: NatsService | null = await useRepoNats("integration/remote/paged-multipart");
let svc: Services<"postgres" | "s3"> | null = null;
if (nats) svc = await services(["postgres", "s3"]);
const t = nats && svc ? test : test.skip;

let pg: Awaited<ReturnType<typeof postgresTaskStore>>;
let presigner: S3Presigner;
let orch: Orchestrator<PostgresActivityTaskStore>;
let workerNc: NatsConnection;
let transport: WorkerTransport;
let run = 0;

test.before(async () => {
  if (!nats || !svc) return;
  pg = await postgresTaskStore(svc.postgres.url);
  presigner = createS3Presigner({ bucket: svc.s3.bucket, clientConfig: adapterClientConfig(svc.s3) });
  orch = await startOrchestrator({
    url: nats.url,
    topology,
    queue: "default",
    codeVersion: "v1",
    leaseMs: 60_000,
    maxDeliver: 1,
    connect: { user: "orchestrator", pass: REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD },
    taskStore: pg.store,
    presigner,
    broker: { presignExpiresInSec: EXPIRES_SEC, presignPageParts: 3 },
  });
  workerNc = await connect({
    servers: nats.url,
    user: "worker-default",
    pass: REPO_NATS_PASSWORDS.JETFLOW_WORKER_DEFAULT_PASSWORD,
    inboxPrefix: "_INBOX_worker-default",
  });
  transport = createNatsWorkerTransport(workerNc, { topology, queue: "default", codeVersion: "v1" });
});

test.after(async () => {
  await transport?.close?.();
  await workerNc?.close();
  await orch?.close();
  presigner?.close();
  await pg?.close();
  await svc?.stop();
  await nats?.stop();
});

async function leased(): Promise<LeasedTask> {
  const workflowRunId = `run-paged-${++run}`;
  await orch.broker.submit(spec({ workflowRunId, queue: "default", codeVersion: "v1", maxUploadBytes: 64 * MiB }));
  const lease = await transport.next("default", { workerId: "w-paged", codeVersion: "v1", labels: {}, waitMs: 10_000 });
  assert.ok(lease, "a task was delivered");
  return lease;
}

/** `n` bytes that differ per part. */
const pattern = (n: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4096) b.writeUInt32BE((i * 2654435761) >>> 0, i);
  return b;
};
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** The transport, recording every presign request and reply. */
function recording(): { transport: WorkerTransport; calls: { req: PresignCall; expiresAt?: string | undefined }[] } {
  const calls: { req: PresignCall; expiresAt?: string | undefined }[] = [];
  return {
    calls,
    transport: {
      ...transport,
      presign: async (l, req) => {
        const reply = await transport.presign(l, req);
        calls.push({ req, expiresAt: reply.expiresAt });
        return reply;
      },
    },
  };
}

/**
 * `data` as a stream of 1 MiB chunks that holds part 4 back until the URLs of the first two pages
 * (parts 1-6, asked for before part 4 is read) have expired: a producer slower than a URL's life.
 * The condition waited on is the expiry itself, with a bound.
 */
function slowStream(data: Buffer, calls: { expiresAt?: string | undefined }[]): Readable {
  const signed = () => calls.filter((c) => c.expiresAt !== undefined).map((c) => Date.parse(c.expiresAt!));
  return Readable.from(
    (async function* () {
      for (let i = 0; i < data.length; i += MiB) {
        if (i === 3 * PART)
          await until(() => signed().length >= 2 && Date.now() > Math.max(...signed()) + 200, 20_000, "parts 1-6 to expire");
        yield data.subarray(i, i + MiB);
      }
    })(),
  );
}

async function download(lease: LeasedTask, key: string): Promise<Buffer> {
  const g = await transport.presign(lease, { op: "get", key });
  const res = await fetch(g.url!);
  assert.is(res.status, 200);
  return Buffer.from(await res.arrayBuffer());
}

t(
  "7 parts in pages of 3 with 2 s URLs: later pages are asked for, expired pages signed again, and the object hashes the same",
  async () => {
    const lease = await leased();
    const rec = recording();
    const a = createRemoteArtifacts(rec.transport, lease, {
      partSize: PART,
      signal: new AbortController().signal,
      logger: silentWorkerLogger,
    });
    const data = pattern(SIZE);
    const out = await a.putStream("paged.bin", slowStream(data, rec.calls), { size: SIZE });
    assert.is(out.size, SIZE);
    const pages = rec.calls.filter((c) => c.req.op === "parts").map((c) => c.req.partsFrom!);
    assert.equal(rec.calls[0]!.req.op, "multipart");
    assert.ok(pages.length >= 2, `pages after the first were asked for: ${pages.join(",")}`);
    assert.ok(
      pages.filter((from) => from === 4).length >= 2,
      `part 4 was asked for ahead of need, then again once its URL had expired: ${pages.join(",")}`,
    );
    assert.is(sha(await download(lease, out.key)), sha(data));
  },
);

t("a URL the store refuses as expired (the worker's clock is behind) is re-signed and the part sent once more", async () => {
  const lease = await leased();
  const rec = recording();
  // 10 s behind: every URL looks fresh to the worker, so only the store's 403 can reveal the expiry.
  const a = createRemoteArtifacts(rec.transport, lease, {
    partSize: PART,
    now: () => Date.now() - 10_000,
    signal: new AbortController().signal,
    logger: silentWorkerLogger,
  });
  const data = pattern(SIZE);
  const out = await a.putStream("skewed.bin", slowStream(data, rec.calls), { size: SIZE });
  const pages = rec.calls.filter((c) => c.req.op === "parts").map((c) => c.req.partsFrom!);
  assert.ok(
    pages.filter((from) => from === 4).length >= 2,
    `part 4 was signed again after the store refused it as expired: ${pages.join(",")}`,
  );
  assert.is(sha(await download(lease, out.key)), sha(data));
});

t("a page request for another task's upload id, outside the prefix or over maxUploadBytes is refused over NATS", async () => {
  const mine = await leased();
  const other = await leased();
  const m = await transport.presign(mine, { op: "multipart", key: "h.bin", size: SIZE, partSize: PART });
  const theirs = await transport.presign(other, { op: "multipart", key: "h.bin", size: SIZE, partSize: PART });
  assert.is(m.partCount, PARTS);
  assert.is(m.parts!.length, 3, "the first page only");
  const page = { op: "parts" as const, size: SIZE, partSize: PART, partsFrom: 4, partsCount: 3 };
  const fine = await transport.presign(mine, { ...page, key: "h.bin", uploadId: m.uploadId!, uploadTicket: m.uploadTicket! });
  assert.equal(
    fine.parts!.map((p) => p.partNumber),
    [4, 5, 6],
  );
  const refused = async (req: PresignCall, why: RegExp) => {
    const e = await transport.presign(mine, req).then(
      () => null,
      (x: unknown) => x as { code?: string; message: string },
    );
    assert.ok(e, `refused: ${String(why)}`);
    assert.is(e.code, "VALIDATION", e.message);
    assert.match(e.message, why);
  };
  await refused({ ...page, key: "h.bin", uploadId: theirs.uploadId!, uploadTicket: theirs.uploadTicket! }, /was not started by attempt/);
  await refused(
    { ...page, key: `${other.task.artifactPrefix}1/h.bin`, uploadId: theirs.uploadId!, uploadTicket: theirs.uploadTicket! },
    /confined to this attempt's prefix/,
  );
  await refused(
    { ...page, size: 64 * MiB + 1, key: "h.bin", uploadId: m.uploadId!, uploadTicket: m.uploadTicket! },
    /maxUploadBytes limit of 67108864/,
  );
  await transport.presign(mine, {
    op: "abort",
    key: "h.bin",
    uploadId: m.uploadId!,
    uploadTicket: m.uploadTicket!,
    size: SIZE,
    partSize: PART,
  });
  await transport.presign(other, {
    op: "abort",
    key: "h.bin",
    uploadId: theirs.uploadId!,
    uploadTicket: theirs.uploadTicket!,
    size: SIZE,
    partSize: PART,
  });
});

t(
  "presign reply sizes: a page of 100 URLs with a 1,024-byte key stays under the reply budget; 1,000 short-key URLs are measured",
  async () => {
    const longKey = `runs/run-x/stage/1/${"k".repeat(1024 - 19)}`;
    const measure = async (key: string, parts: number) => {
      const m = await presigner.createMultipartUpload(key, { size: parts * PART, partSize: PART, signParts: parts });
      await presigner.abortMultipartUpload(key, m.uploadId);
      const reply = {
        key,
        uploadId: m.uploadId,
        partSize: m.partSize,
        partCount: m.partCount,
        size: parts * PART,
        uploadTicket: "t".repeat(43),
      };
      const whole = Buffer.byteLength(JSON.stringify({ ...reply, parts: m.parts, expiresAt: m.expiresAt.toISOString() }));
      const fitted = fitPage(reply, m.parts, m.expiresAt);
      return { whole, fittedParts: fitted.parts!.length, fittedBytes: Buffer.byteLength(JSON.stringify(fitted)) };
    };
    const page = await measure(longKey, PRESIGN_PAGE_MAX_PARTS);
    const short1000 = await measure("runs/run-x/stage/1/out.bin", 1000);
    const long1000 = await measure(longKey, 1000);
    console.log(
      `presign reply bytes: ${PRESIGN_PAGE_MAX_PARTS} parts, 1024-byte key: ${page.whole}; ` +
        `1000 parts, short key: ${short1000.whole}; 1000 parts, 1024-byte key: ${long1000.whole} ` +
        `(fitted to ${long1000.fittedParts} parts, ${long1000.fittedBytes} bytes); max_payload 1048576`,
    );
    assert.ok(page.whole < PRESIGN_REPLY_BUDGET_BYTES, `a default page fits the budget untrimmed (${page.whole})`);
    assert.is(page.fittedParts, PRESIGN_PAGE_MAX_PARTS);
    assert.ok(long1000.fittedBytes <= PRESIGN_REPLY_BUDGET_BYTES && long1000.fittedParts < 1000, "an oversized page is cut to the budget");
  },
);

test.run();

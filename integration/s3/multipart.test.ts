/**
 * Big artifacts through presigned multipart upload, the way a credential-free worker sends
 * them: the orchestrator starts the upload and presigns every part; the worker PUTs parts with
 * plain `fetch` and reports the ETags; the orchestrator completes. Verified by sha256.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createS3Presigner, partRange, planMultipart, S3AdapterError } from "../../adapters/s3/index.js";
import { adapterClientConfig, adapters, drain, randomBlob, sha256, startS3, uploadParts } from "./helpers.js";

const MiB = 1024 * 1024;
const s3 = await startS3();
const t = s3 ? test : test.skip;
const { presigner, store } = s3 ? adapters(s3.svc, { prefix: "jetflow/" }) : ({} as ReturnType<typeof adapters>);

t("a 150 MB object goes up in presigned parts (fetch only) and comes back byte-identical", async () => {
  const blob = randomBlob(150 * MiB);
  const key = "runs/r1/transcode/1/movie.mp4";
  const up = await presigner.createMultipartUpload(key, { size: blob.data.byteLength, contentType: "video/mp4" });
  // Default 64 MiB parts: 64 + 64 + 22 MiB.
  assert.is(up.partSize, 64 * MiB);
  assert.equal(
    up.parts.map((p) => p.partNumber),
    [1, 2, 3],
  );
  assert.is(up.key, key);
  assert.ok(up.expiresAt.getTime() > Date.now());
  const etags = await uploadParts(up.parts, up.partSize, blob.data, 3);
  // Workers report parts in completion order; the presigner sorts them for S3.
  await presigner.completeMultipartUpload(key, up.uploadId, etags.reverse());

  const res = await fetch((await presigner.presignGet(key)).url);
  assert.is(res.status, 200);
  assert.is(res.headers.get("content-type"), "video/mp4");
  const back = new Uint8Array(await res.arrayBuffer());
  assert.is(back.byteLength, blob.data.byteLength);
  assert.is(sha256(back), blob.sha256);
});

t("explicit part size: a worker cuts parts with partRange, unquoted ETags are accepted", async () => {
  const blob = randomBlob(21 * MiB + 123);
  const key = "runs/r2/s/1/out.bin";
  const up = await presigner.createMultipartUpload(key, { size: blob.data.byteLength, partSize: 5 * MiB });
  const plan = planMultipart(blob.data.byteLength, up.partSize);
  assert.is(up.parts.length, 5);
  const reported: { partNumber: number; etag: string }[] = [];
  for (const p of up.parts) {
    const { start, end } = partRange(plan, p.partNumber);
    const res = await fetch(p.url, { method: "PUT", body: blob.data.subarray(start, end) });
    assert.is(res.status, 200, await res.text());
    reported.push({ partNumber: p.partNumber, etag: res.headers.get("etag")!.replaceAll('"', "") });
  }
  assert.is(partRange(plan, 5).end - partRange(plan, 5).start, MiB + 123);
  await presigner.completeMultipartUpload(key, up.uploadId, reported);
  const got = await store.get(key);
  assert.ok(got);
  assert.is(sha256(got), blob.sha256);
});

t("an aborted upload leaves no object, and completing it afterwards fails with a typed error", async () => {
  const blob = randomBlob(6 * MiB);
  const key = "runs/r3/s/1/aborted.bin";
  const up = await presigner.createMultipartUpload(key, { size: blob.data.byteLength, partSize: 5 * MiB });
  const etags = await uploadParts(up.parts.slice(0, 1), up.partSize, blob.data);
  await presigner.abortMultipartUpload(key, up.uploadId);
  assert.is(await store.has(key), false);
  const err = await presigner.completeMultipartUpload(key, up.uploadId, etags).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, S3AdapterError);
  assert.is((err as S3AdapterError).operation, "completeMultipartUpload");
  assert.match((err as Error).message, /NoSuchUpload/);
  // A part URL of the aborted upload no longer accepts data.
  const late = await drain(await fetch(up.parts[1]!.url, { method: "PUT", body: blob.data.subarray(up.partSize) }));
  assert.is.not(late.status, 200, late.text);
});

t("part URLs that expired mid-upload are re-signed for the same upload and the upload finishes", async () => {
  const blob = randomBlob(11 * MiB);
  const key = "runs/r4/s/1/slow.bin";
  const past = new Date(Date.now() - 2 * 3600_000);
  const stale = createS3Presigner({
    bucket: s3!.svc.bucket,
    prefix: "jetflow/",
    clientConfig: adapterClientConfig(s3!.svc),
    clock: { now: () => past },
  });
  try {
    const up = await stale.createMultipartUpload(key, { size: blob.data.byteLength, partSize: 5 * MiB, expiresInSec: 60 });
    const first = await drain(await fetch(up.parts[0]!.url, { method: "PUT", body: blob.data.subarray(0, up.partSize) }));
    assert.is(first.status, 403, first.text);
    const fresh = await presigner.presignUploadParts(
      key,
      up.uploadId,
      up.parts.map((p) => p.partNumber),
      { size: blob.data.byteLength, partSize: 5 * MiB },
    );
    assert.ok(fresh.expiresAt.getTime() > Date.now());
    const etags = await uploadParts(fresh.parts, up.partSize, blob.data);
    await presigner.completeMultipartUpload(key, up.uploadId, etags);
  } finally {
    stale.close();
  }
  const got = await store.get(key);
  assert.ok(got);
  assert.is(sha256(got), blob.sha256);
});

t("a bad part size or part list is refused before S3 is asked, naming the field", async () => {
  for (const [opts, field] of [
    [{ size: 20 * MiB, partSize: MiB }, "partSize"],
    [{ size: 0 }, "size"],
    [{ size: 10_001 * 5 * MiB, partSize: 5 * MiB }, "partSize"],
  ] as const) {
    const err = await presigner.createMultipartUpload("runs/bad", opts).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error && err.message.includes(field), `${JSON.stringify(opts)}: ${String(err)}`);
  }
  const dup = await presigner
    .completeMultipartUpload("runs/bad", "u1", [
      { partNumber: 1, etag: "a" },
      { partNumber: 1, etag: "b" },
    ])
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.match(String(dup), /parts: must not repeat a partNumber/);
});

test.after(async () => {
  presigner?.close();
  store?.close();
  await s3?.stop();
});
test.run();

/**
 * The server refuses every presigned URL that was not signed for exactly this request, and
 * each refusal is paired with a control request that succeeds in the same test, so a server
 * that verifies nothing (stock s3rver) fails these tests instead of passing them.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createS3Presigner } from "../../adapters/s3/index.js";
import {
  adapterClientConfig,
  adapters,
  drain,
  putWithUrl,
  randomBlob,
  sha256,
  startS3,
  stripSignature,
  tamperSignature,
} from "./helpers.js";

const s3 = await startS3();
const t = s3 ? test : test.skip;
const { presigner, store } = s3 ? adapters(s3.svc) : ({} as ReturnType<typeof adapters>);
const enc = new TextEncoder();

/** 403 with one of the auth error codes S3 (and MinIO, s3rver) use. */
async function assertDenied(res: Response, what: string): Promise<void> {
  const { status, text } = await drain(res);
  assert.is(status, 403, `${what}: expected 403, got ${status} ${text}`);
  assert.match(text, /SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId/, `${what}: ${text}`);
}

async function assertOk(res: Response, what: string): Promise<string> {
  const { status, text } = await drain(res);
  assert.is(status, 200, `${what}: expected 200, got ${status} ${text}`);
  return text;
}

t("a presigned GET with one character of its signature changed is refused; the original works", async () => {
  await store.put("a/tamper.txt", enc.encode("secret payload"));
  const get = await presigner.presignGet("a/tamper.txt");
  await assertDenied(await fetch(tamperSignature(get.url)), "tampered GET");
  assert.is(await assertOk(await fetch(get.url), "control GET"), "secret payload");
});

t("a presigned PUT with a tampered signature writes nothing", async () => {
  const put = await presigner.presignPut("a/tamper-put.bin", { size: 4 });
  await assertDenied(await putWithUrl({ ...put, url: tamperSignature(put.url) }, enc.encode("evil")), "tampered PUT");
  assert.is(await store.has("a/tamper-put.bin"), false);
  await assertOk(await putWithUrl(put, enc.encode("good")), "control PUT");
  assert.equal(await store.get("a/tamper-put.bin"), enc.encode("good"));
});

t("a URL signed with the wrong secret is refused; the same request signed with the right one works", async () => {
  await store.put("a/wrong-secret.txt", enc.encode("x"));
  const forged = createS3Presigner({ bucket: s3!.svc.bucket, clientConfig: adapterClientConfig(s3!.svc, "not-the-secret") });
  try {
    await assertDenied(await fetch((await forged.presignGet("a/wrong-secret.txt")).url), "wrong-secret GET");
    await assertDenied(await putWithUrl(await forged.presignPut("a/wrong-secret.txt", { size: 1 }), enc.encode("y")), "wrong-secret PUT");
  } finally {
    forged.close();
  }
  assert.is(await assertOk(await fetch((await presigner.presignGet("a/wrong-secret.txt")).url), "control GET"), "x");
});

t("a URL presigned for key A does not grant key B (GET or PUT), even though B exists", async () => {
  await store.put("runs/r1/s/1/a.txt", enc.encode("A"));
  await store.put("runs/r2/s/1/b.txt", enc.encode("B"));
  const getA = await presigner.presignGet("runs/r1/s/1/a.txt");
  await assertDenied(await fetch(getA.url.replace("runs/r1/s/1/a.txt", "runs/r2/s/1/b.txt")), "GET A's URL on B");
  const putA = await presigner.presignPut("runs/r1/s/1/a.txt", { size: 9 });
  await assertDenied(
    await putWithUrl({ ...putA, url: putA.url.replace("runs/r1/s/1/a.txt", "runs/r2/s/1/b.txt") }, enc.encode("overwrite")),
    "PUT A's URL on B",
  );
  assert.equal(await store.get("runs/r2/s/1/b.txt"), enc.encode("B"));
  assert.is(await assertOk(await fetch(getA.url), "control GET A"), "A");
});

t("a GET URL cannot be used to PUT (the method is signed)", async () => {
  await store.put("a/method.txt", enc.encode("keep"));
  const get = await presigner.presignGet("a/method.txt");
  await assertDenied(await fetch(get.url, { method: "PUT", body: "replaced" }), "PUT on a GET URL");
  assert.is(await assertOk(await fetch(get.url), "control GET"), "keep");
});

t("an expired URL is refused: signed by a clock two hours back with a 60 s lifetime", async () => {
  await store.put("a/expired.txt", enc.encode("late"));
  const past = new Date(Date.now() - 2 * 3600_000);
  const stale = createS3Presigner({ bucket: s3!.svc.bucket, clientConfig: adapterClientConfig(s3!.svc), clock: { now: () => past } });
  try {
    const get = await stale.presignGet("a/expired.txt", { expiresInSec: 60 });
    assert.ok(get.expiresAt.getTime() < Date.now(), "expiresAt is already in the past");
    const { status, text } = await drain(await fetch(get.url));
    assert.is(status, 403, text);
    assert.match(text, /AccessDenied/);
    assert.match(text, /expired/i);
    const put = await stale.presignPut("a/expired.txt", { size: 9, expiresInSec: 60 });
    await assertDenied(await putWithUrl(put, enc.encode("overwrite")), "expired PUT");
  } finally {
    stale.close();
  }
  assert.is(await assertOk(await fetch((await presigner.presignGet("a/expired.txt", { expiresInSec: 60 })).url), "control GET"), "late");
});

t("a presigned PUT with a signed content type refuses any other content type", async () => {
  const put = await presigner.presignPut("a/typed.json", { size: 2, contentType: "application/json" });
  // Same size as the signed one, so only the content type differs.
  await assertDenied(await putWithUrl(put, enc.encode("<>"), { "content-type": "text/html" }), "PUT with another content type");
  assert.is(await store.has("a/typed.json"), false);
  await assertOk(await putWithUrl(put, enc.encode("{}")), "control PUT");
});

t("a request with the signature stripped is refused as anonymous", async () => {
  await store.put("a/anon.txt", enc.encode("private"));
  const get = await presigner.presignGet("a/anon.txt");
  await assertDenied(await fetch(stripSignature(get.url)), "anonymous GET");
  assert.is(await assertOk(await fetch(get.url), "control GET"), "private");
});

t("a tampered presigned UploadPart URL is refused, as is a part URL moved to another part number; the real one works", async () => {
  const blob = randomBlob(6 * 1024 * 1024);
  const up = await presigner.createMultipartUpload("a/multi.bin", { size: blob.data.byteLength, partSize: 5 * 1024 * 1024 });
  assert.is(up.parts.length, 2);
  const [p1, p2] = up.parts as [(typeof up.parts)[0], (typeof up.parts)[0]];
  const first = blob.data.subarray(0, up.partSize);
  await assertDenied(await fetch(tamperSignature(p1.url), { method: "PUT", body: first }), "tampered UploadPart");
  const moved = new URL(p1.url);
  moved.searchParams.set("partNumber", "2");
  await assertDenied(await fetch(moved, { method: "PUT", body: first }), "UploadPart URL with another partNumber");
  const r1 = await fetch(p1.url, { method: "PUT", body: first });
  await assertOk(r1, "control part 1");
  const r2 = await fetch(p2.url, { method: "PUT", body: blob.data.subarray(up.partSize) });
  await assertOk(r2, "control part 2");
  await presigner.completeMultipartUpload("a/multi.bin", up.uploadId, [
    { partNumber: 1, etag: r1.headers.get("etag")! },
    { partNumber: 2, etag: r2.headers.get("etag")! },
  ]);
  const got = await store.get("a/multi.bin");
  assert.ok(got);
  assert.is(sha256(got), blob.sha256);
});

test.after(async () => {
  presigner?.close();
  store?.close();
  await s3?.stop();
});
test.run();

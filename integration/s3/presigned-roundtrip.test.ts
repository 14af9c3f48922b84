/**
 * What a credential-free worker does: PUT and GET objects with presigned URLs and plain
 * `fetch`, against a server that verifies SigV4. Bytes must round-trip exactly.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { adapters, drain, putWithUrl, randomBlob, sha256, startS3 } from "./helpers.js";

const s3 = await startS3();
const t = s3 ? test : test.skip;
const { presigner, store } = s3 ? adapters(s3.svc, { prefix: "jetflow/" }) : ({} as ReturnType<typeof adapters>);

t("a 20 MB random binary round-trips byte-for-byte through presigned PUT then GET (fetch only)", async () => {
  const blob = randomBlob(20 * 1024 * 1024);
  const put = await presigner.presignPut("runs/r1/encode/1/video.bin", {
    size: blob.data.byteLength,
    contentType: "application/octet-stream",
  });
  assert.is(put.method, "PUT");
  assert.equal(put.headers, { "content-type": "application/octet-stream" });
  // The URL is the whole grant: it names the access key but must never carry the secret.
  assert.not.ok(put.url.includes(s3!.svc.secretAccessKey));
  assert.not.ok(decodeURIComponent(put.url).includes(s3!.svc.secretAccessKey));
  const res = await drain(await putWithUrl(put, blob.data));
  assert.is(res.status, 200, res.text);

  const get = await presigner.presignGet("runs/r1/encode/1/video.bin");
  assert.is(get.method, "GET");
  const got = await fetch(get.url);
  assert.is(got.status, 200);
  assert.is(got.headers.get("content-type"), "application/octet-stream");
  const bytes = new Uint8Array(await got.arrayBuffer());
  assert.is(bytes.byteLength, blob.data.byteLength);
  assert.is(sha256(bytes), blob.sha256);
});

t("what a worker PUTs is what the orchestrator's BlobStore reads (same prefix), and vice versa", async () => {
  const blob = randomBlob(300_000);
  const put = await presigner.presignPut("runs/r2/s/1/out.bin", { size: blob.data.byteLength });
  assert.is((await drain(await putWithUrl(put, blob.data))).status, 200);
  const read = await store.get("runs/r2/s/1/out.bin");
  assert.ok(read);
  assert.is(sha256(read), blob.sha256);

  await store.put("runs/r2/s/1/in.json", new TextEncoder().encode('{"a":1}'), { contentType: "application/json" });
  const get = await presigner.presignGet("runs/r2/s/1/in.json");
  const res = await fetch(get.url);
  assert.is(res.status, 200);
  assert.equal(await res.json(), { a: 1 });
  assert.equal(await store.list("runs/r2/"), ["runs/r2/s/1/in.json", "runs/r2/s/1/out.bin"]);
});

t("expiresAt is the signing instant plus the requested lifetime (default 900 s)", async () => {
  const before = Date.now();
  const dflt = await presigner.presignGet("k");
  const short = await presigner.presignPut("k", { size: 1, expiresInSec: 30 });
  const after = Date.now();
  const within = (d: Date, sec: number): boolean => d.getTime() >= before + sec * 1000 - 1000 && d.getTime() <= after + sec * 1000;
  assert.ok(within(dflt.expiresAt, 900), dflt.expiresAt.toISOString());
  assert.ok(within(short.expiresAt, 30), short.expiresAt.toISOString());
  assert.match(short.url, /X-Amz-Expires=30(&|$)/);
  // expiresAt is exactly X-Amz-Date + X-Amz-Expires: what the store enforces.
  const q = new URL(short.url).searchParams;
  const d = q.get("X-Amz-Date")!.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z");
  assert.is(short.expiresAt.getTime(), Date.parse(d) + Number(q.get("X-Amz-Expires")) * 1000);
});

t("a presigned GET of a key nobody wrote answers 404, not an empty body", async () => {
  const get = await presigner.presignGet("runs/none/x");
  const res = await drain(await fetch(get.url));
  assert.is(res.status, 404);
  assert.match(res.text, /NoSuchKey/);
});

t("an empty object round-trips through presigned URLs", async () => {
  const put = await presigner.presignPut("empty", { size: 0 });
  assert.is((await drain(await putWithUrl(put, new Uint8Array(0)))).status, 200);
  const res = await fetch((await presigner.presignGet("empty")).url);
  assert.is(res.status, 200);
  assert.is((await res.arrayBuffer()).byteLength, 0);
});

t("keys with spaces, unicode, '+', '&' and '=' work through presigned URLs", async () => {
  for (const key of ["runs/r5/with space/ü日本.bin", "runs/r5/a+b&c=d.txt", "runs/r5/(x)!*'~.txt"]) {
    const body = new TextEncoder().encode(key);
    const put = await presigner.presignPut(key, { size: body.byteLength });
    const res = await drain(await putWithUrl(put, body));
    assert.is(res.status, 200, `${key}: ${res.text}`);
    assert.equal(await store.get(key), body, key);
    const got = await fetch((await presigner.presignGet(key)).url);
    assert.is(got.status, 200, key);
    assert.is(await got.text(), key);
  }
});

t("a worker can resume a download with a Range request on a presigned GET (Range is not signed)", async () => {
  const blob = randomBlob(1_000_000);
  await store.put("runs/r6/in.bin", blob.data);
  const get = await presigner.presignGet("runs/r6/in.bin");
  const res = await fetch(get.url, { headers: { range: "bytes=400000-" } });
  assert.is(res.status, 206);
  const tail = new Uint8Array(await res.arrayBuffer());
  assert.is(tail.byteLength, 600_000);
  assert.is(sha256(tail), sha256(blob.data.subarray(400_000)));
});

test.after(async () => {
  presigner?.close();
  store?.close();
  await s3?.stop();
});
test.run();

/**
 * The S3 harness itself: `useS3()` gives each caller its own bucket on a server that verifies
 * signatures and refuses well-known or wrong keys, and `stop()` leaves nothing behind.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { portRefuses } from "../harness/index.js";
import { s3ClientConfig, useS3 } from "../harness/s3.js";
import { startS3 } from "./helpers.js";

const s3 = await startS3();
const t = s3 ? test : test.skip;

t("the service has what a client needs, and the SDK works with s3ClientConfig", async () => {
  const svc = s3!.svc;
  assert.match(svc.endpoint, /^https?:\/\//);
  assert.match(svc.bucket, /^[a-z0-9][a-z0-9.-]+$/);
  const client = new S3Client(s3ClientConfig(svc));
  try {
    await client.send(new PutObjectCommand({ Bucket: svc.bucket, Key: "a & b/c.txt", Body: "hi" }));
    const got = await client.send(new GetObjectCommand({ Bucket: svc.bucket, Key: "a & b/c.txt" }));
    assert.is(await got.Body!.transformToString(), "hi");
    const listed = await client.send(new ListObjectsV2Command({ Bucket: svc.bucket }));
    assert.equal(
      listed.Contents?.map((o) => o.Key),
      ["a & b/c.txt"],
    );
  } finally {
    client.destroy();
  }
});

t("the server refuses a wrong secret and s3rver's well-known S3RVER key", async () => {
  const svc = s3!.svc;
  for (const credentials of [
    { accessKeyId: svc.accessKeyId, secretAccessKey: `${svc.secretAccessKey}x` },
    { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  ]) {
    const client = new S3Client({ ...s3ClientConfig(svc), credentials, maxAttempts: 1 });
    try {
      const err = await client.send(new ListObjectsV2Command({ Bucket: svc.bucket })).then(
        () => undefined,
        (e: unknown) => e as { name: string; $metadata?: { httpStatusCode?: number } },
      );
      assert.ok(err, `${credentials.accessKeyId} was accepted`);
      assert.is(err.$metadata?.httpStatusCode, 403, err.name);
    } finally {
      client.destroy();
    }
  }
});

t("each call gets its own bucket; stop() is idempotent and a local server leaves no port or temp dir", async () => {
  const other = await useS3({ bucket: "jetflow-harness-named" });
  assert.is(other.bucket, "jetflow-harness-named");
  assert.is.not(other.bucket, s3!.svc.bucket);
  const client = new S3Client(s3ClientConfig(other));
  const listed = await client.send(new ListObjectsV2Command({ Bucket: other.bucket }));
  client.destroy();
  assert.is(listed.KeyCount ?? 0, 0);
  const dirsBefore = readdirSync(tmpdir()).filter((n) => n.startsWith("jetflow-s3-"));
  await other.stop();
  await other.stop();
  if (other.source === "local") {
    const url = new URL(other.endpoint);
    assert.ok(await portRefuses(url.hostname, Number(url.port)), "port still open after stop()");
    const gone = dirsBefore.filter((n) => !existsSync(join(tmpdir(), n)));
    assert.is(gone.length, 1, "exactly the stopped server's temp dir is removed");
  }
});

test.after(async () => {
  await s3?.stop();
});
test.run();

/**
 * Config and argument validation of the S3 adapters: every mistake an operator can make in a
 * config file is refused at construction with an error naming the field. No server needed.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { S3Client } from "@aws-sdk/client-s3";
import {
  createS3BlobStore,
  createS3Presigner,
  MAX_PARTS,
  planMultipart,
  S3AdapterError,
  S3ConfigError,
  type S3BlobStoreConfig,
  type S3PresignerConfig,
} from "../../adapters/s3/index.js";
import { ValidationError } from "../../src/contract/errors.js";

const ok = {
  region: "us-east-1",
  endpoint: "http://127.0.0.1:9000",
  credentials: { accessKeyId: "a", secretAccessKey: "b" },
  forcePathStyle: true,
};

/** The error thrown by `fn`, asserted to be an S3ConfigError whose issues name `field`. */
function refusal(fn: () => unknown, field: string): S3ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.instance(caught, S3ConfigError, `expected S3ConfigError for ${field}, got ${String(caught)}`);
  const e = caught as S3ConfigError;
  assert.instance(e, ValidationError);
  assert.is(e.code, "VALIDATION");
  assert.ok(
    e.issues.some((i) => i.path === field),
    `issues ${JSON.stringify(e.issues)} should name ${field}`,
  );
  assert.match(e.message, field);
  return e;
}

const store = (c: unknown) => () => createS3BlobStore(c as S3BlobStoreConfig);
const presigner = (c: unknown) => () => createS3Presigner(c as S3PresignerConfig);

test("a missing or malformed bucket is named", () => {
  refusal(store({ clientConfig: ok }), "bucket");
  refusal(store({ bucket: "Has_Upper", clientConfig: ok }), "bucket");
  refusal(presigner({ bucket: "ab", clientConfig: ok }), "bucket");
});

test("region, endpoint and credentials are checked field by field", () => {
  refusal(store({ bucket: "jetflow", clientConfig: { ...ok, region: undefined } }), "clientConfig.region");
  refusal(store({ bucket: "jetflow", clientConfig: { ...ok, region: "" } }), "clientConfig.region");
  refusal(store({ bucket: "jetflow", clientConfig: { ...ok, endpoint: "not a url" } }), "clientConfig.endpoint");
  refusal(store({ bucket: "jetflow", clientConfig: { ...ok, endpoint: "ftp://host" } }), "clientConfig.endpoint");
  refusal(
    store({ bucket: "jetflow", clientConfig: { ...ok, credentials: { accessKeyId: "a" } } }),
    "clientConfig.credentials.secretAccessKey",
  );
  refusal(store({ bucket: "jetflow", clientConfig: { ...ok, forcePathStyle: "yes" } }), "clientConfig.forcePathStyle");
  refusal(store({ bucket: "jetflow", clientConfig: { ...ok, regoin: "typo" } }), "clientConfig");
  refusal(store({ bucket: "jetflow", clientConfig: { ...ok, socketTimeoutMs: 0 } }), "clientConfig.socketTimeoutMs");
  refusal(store({ bucket: "jetflow", clientConfig: { ...ok, connectionTimeoutMs: 1.5 } }), "clientConfig.connectionTimeoutMs");
  refusal(presigner({ bucket: "jetflow", clientConfig: { ...ok, maxAttempts: 0 } }), "clientConfig.maxAttempts");
});

test("credentials: static keys (even ones the SDK has tagged) or a provider function", () => {
  const tagged = { ...ok.credentials, $source: { CREDENTIALS_CODE: "e" } };
  createS3BlobStore({ bucket: "jetflow", clientConfig: { ...ok, credentials: tagged } }).close();
  createS3BlobStore({ bucket: "jetflow", clientConfig: { ...ok, credentials: async () => ok.credentials } }).close();
  createS3BlobStore({ bucket: "jetflow", clientConfig: { region: "eu-west-1" } }).close(); // default chain
  refusal(store({ bucket: "jetflow", clientConfig: { ...ok, credentials: "key:secret" } }), "clientConfig.credentials");
  refusal(
    store({ bucket: "jetflow", clientConfig: { ...ok, credentials: { accessKeyId: "", secretAccessKey: "b" } } }),
    "clientConfig.credentials.accessKeyId",
  );
});

test("exactly one of client and clientConfig", () => {
  refusal(store({ bucket: "jetflow" }), "clientConfig");
  const client = new S3Client({ region: "us-east-1" });
  try {
    refusal(store({ bucket: "jetflow", client, clientConfig: ok }), "client");
    refusal(store({ bucket: "jetflow", client: { nope: true } }), "client");
    const s = createS3BlobStore({ bucket: "jetflow", client });
    assert.is(s.client, client);
    s.close(); // a passed-in client is not ours to destroy
  } finally {
    client.destroy();
  }
});

test("a passed-in client on the SDK's default checksum mode is refused at presign time, with the fix", async () => {
  const base = { region: "us-east-1", endpoint: "http://127.0.0.1:9000", credentials: ok.credentials, forcePathStyle: true };
  const risky = new S3Client(base);
  const fine = new S3Client({ ...base, requestChecksumCalculation: "WHEN_REQUIRED" });
  try {
    const err = await createS3Presigner({ bucket: "jetflow", client: risky })
      .presignPut("k", { size: 1 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.instance(err, S3AdapterError);
    assert.match((err as Error).message, /requestChecksumCalculation: "WHEN_REQUIRED"/);
    const put = await createS3Presigner({ bucket: "jetflow", client: fine }).presignPut("k", { size: 1 });
    assert.not.match(put.url, /x-amz-checksum/i);
  } finally {
    risky.destroy();
    fine.destroy();
  }
});

test("upload URLs always sign Content-Length; a client whose middleware drops it is refused instead of handing out an unbounded URL", async () => {
  const base = { region: "us-east-1", endpoint: "http://127.0.0.1:9000", credentials: ok.credentials, forcePathStyle: true };
  const fine = new S3Client({ ...base, requestChecksumCalculation: "WHEN_REQUIRED" });
  const lossy = new S3Client({ ...base, requestChecksumCalculation: "WHEN_REQUIRED" });
  // Stands in for any SDK change or middleware that would leave the size out of the signature.
  lossy.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request as { headers?: Record<string, string> };
      if (req.headers) delete req.headers["content-length"];
      return next(args);
    },
    { step: "build", name: "dropContentLength" },
  );
  try {
    const put = await createS3Presigner({ bucket: "jetflow", client: fine }).presignPut("k", { size: 42 });
    assert.is(new URL(put.url).searchParams.get("X-Amz-SignedHeaders"), "content-length;host");
    const err = await createS3Presigner({ bucket: "jetflow", client: lossy })
      .presignPut("k", { size: 42 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.instance(err, S3AdapterError);
    assert.match((err as Error).message, /does not sign content-length/);
  } finally {
    fine.destroy();
    lossy.destroy();
  }
});

test("a single presigned PUT is limited to S3's 5 GiB and needs a whole, non-negative size", async () => {
  const p = createS3Presigner({ bucket: "jetflow", clientConfig: ok });
  try {
    for (const size of [5 * 1024 ** 3 + 1, -1, 1.5]) {
      const err = await p.presignPut("k", { size }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(err, S3ConfigError, String(size));
      assert.ok(
        (err as S3ConfigError).issues.some((i) => i.path === "size"),
        String(size),
      );
    }
  } finally {
    p.close();
  }
});

test("prefix, page size, default expiry and clock are validated", () => {
  refusal(store({ bucket: "jetflow", clientConfig: ok, prefix: "/abs/" }), "prefix");
  refusal(store({ bucket: "jetflow", clientConfig: ok, pageSize: 5000 }), "pageSize");
  refusal(presigner({ bucket: "jetflow", clientConfig: ok, defaultExpiresInSec: 0 }), "defaultExpiresInSec");
  const week = refusal(presigner({ bucket: "jetflow", clientConfig: ok, defaultExpiresInSec: 604_801 }), "defaultExpiresInSec");
  assert.match(week.message, /7 days/);
  refusal(presigner({ bucket: "jetflow", clientConfig: ok, clock: Date }), "clock");
});

test("per-call options are validated too: expiry, content type, part numbers", async () => {
  const p = createS3Presigner({ bucket: "jetflow", clientConfig: ok });
  try {
    for (const [call, field] of [
      [() => p.presignGet("k", { expiresInSec: 1.5 }), "expiresInSec"],
      [() => p.presignPut("k", { size: 1, contentType: "text/plain\r\nx-evil: 1" }), "contentType"],
      [() => p.presignPut("", { size: 1 }), "key"],
      [() => p.completeMultipartUpload("k", "u", []), "parts"],
      [() => p.completeMultipartUpload("k", "u", [{ partNumber: 0, etag: "e" }]), "parts.0.partNumber"],
      [() => p.abortMultipartUpload("k", ""), "uploadId"],
    ] as const) {
      const err = await (call as () => Promise<unknown>)().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(err, ValidationError, `${field}: ${String(err)}`);
      assert.ok(
        (err as ValidationError).issues.some((i) => i.path === field),
        `${field}: ${JSON.stringify((err as ValidationError).issues)}`,
      );
    }
  } finally {
    p.close();
  }
});

test("multipart planning: default 64 MiB parts grow to stay within 10,000 parts; explicit sizes obey S3's limits", () => {
  const MiB = 1024 * 1024;
  assert.equal(planMultipart(150 * MiB), { partSize: 64 * MiB, partCount: 3, lastPartSize: 22 * MiB });
  assert.equal(planMultipart(1), { partSize: 64 * MiB, partCount: 1, lastPartSize: 1 });
  const huge = planMultipart(2 * 1024 * 1024 * MiB); // 2 TiB
  assert.ok(huge.partCount <= MAX_PARTS);
  assert.is(huge.partSize % MiB, 0);
  assert.equal(planMultipart(3 * MiB, MiB * 4), { partSize: 4 * MiB, partCount: 1, lastPartSize: 3 * MiB });
  assert.throws(() => planMultipart(10 * MiB, MiB), /partSize: must be at least 5242880/);
  assert.throws(() => planMultipart(6 * 1024 * MiB, 6 * 1024 * MiB), /partSize: must be at most/);
  assert.throws(() => planMultipart(50_001 * MiB, 5 * MiB), /10000 parts/);
  assert.throws(() => planMultipart(60 * 1024 * 1024 * MiB), /size: .* exceed/);
  assert.throws(() => planMultipart(-1), /size/);
});

test.run();

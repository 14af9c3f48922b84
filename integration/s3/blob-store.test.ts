/**
 * The S3 BlobStore against a SigV4-verifying server: the shared conformance suite (unchanged,
 * the same cases the in-memory store passes), then what only a real object store exercises —
 * pagination past 1,000 keys, prefix isolation, typed errors.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { randomBytes } from "node:crypto";
import { createS3BlobStore, S3AdapterError, type S3BlobStore } from "../../adapters/s3/index.js";
import { ValidationError } from "../../src/contract/errors.js";
import { blobStoreConformance } from "../../src/testing/index.js";
import { adapterClientConfig, startS3 } from "./helpers.js";

const s3 = await startS3();
const t = s3 ? test : test.skip;
const enc = new TextEncoder();

/** A store on the file's bucket under a prefix no other case uses: fresh and empty. */
function freshStore(opts: { pageSize?: number } = {}): S3BlobStore {
  return createS3BlobStore({
    ...opts,
    bucket: s3!.svc.bucket,
    prefix: `case-${randomBytes(4).toString("hex")}/`,
    clientConfig: adapterClientConfig(s3!.svc),
  });
}

for (const c of blobStoreConformance(async () => {
  const store = freshStore();
  return {
    store,
    async cleanup() {
      await store.deletePrefix("");
      store.close();
    },
  };
})) {
  t(c.name, c.run);
}

t("list and deletePrefix page through many pages (continuation tokens, one DeleteObjects batch per page)", async () => {
  // pageSize 7 makes 45 keys span 7 pages, the same code path as 1,000-key pages on S3.
  const store = freshStore({ pageSize: 7 });
  try {
    const keys = Array.from({ length: 45 }, (_, i) => `runs/big/${String(i).padStart(3, "0")}`);
    await Promise.all(keys.map((k) => store.put(k, enc.encode(k))));
    await store.put("runs/bigger/keep", enc.encode("keep"));
    assert.equal(await store.list("runs/big/"), keys);
    assert.is(await store.deletePrefix("runs/big/"), 45);
    assert.equal(await store.list("runs/big/"), []);
    assert.equal(await store.list("runs/"), ["runs/bigger/keep"]);
  } finally {
    await store.deletePrefix("");
    store.close();
  }
});

t("two stores with different prefixes on one bucket never see each other's keys", async () => {
  const a = freshStore();
  const b = freshStore();
  try {
    await a.put("same/key", enc.encode("from a"));
    await b.put("same/key", enc.encode("from b"));
    assert.equal(await a.get("same/key"), enc.encode("from a"));
    assert.equal(await a.list(""), ["same/key"]);
    assert.is(await a.deletePrefix(""), 1);
    assert.equal(await b.get("same/key"), enc.encode("from b"));
  } finally {
    await Promise.all([a.deletePrefix(""), b.deletePrefix("")]);
    a.close();
    b.close();
  }
});

t("the content type given to put is stored with the object", async () => {
  const store = freshStore();
  try {
    await store.put("doc.json", enc.encode("{}"), { contentType: "application/json" });
    const { HeadObjectCommand } = await import("@aws-sdk/client-s3");
    const head = await store.client.send(new HeadObjectCommand({ Bucket: store.bucket, Key: `${store.prefix}doc.json` }));
    assert.is(head.ContentType, "application/json");
  } finally {
    await store.deletePrefix("");
    store.close();
  }
});

t("a missing bucket fails with a typed S3AdapterError naming the operation, bucket and S3 code", async () => {
  const store = createS3BlobStore({ bucket: "jetflow-no-such-bucket", clientConfig: adapterClientConfig(s3!.svc) });
  try {
    for (const op of [() => store.get("k"), () => store.has("k"), () => store.put("k", enc.encode("x")), () => store.list("")]) {
      const err = await op().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(err, S3AdapterError);
      const e = err as S3AdapterError;
      assert.is(e.s3Code, "NoSuchBucket");
      assert.is(e.bucket, "jetflow-no-such-bucket");
      assert.is(e.code, "INTERNAL");
      assert.match(e.message, /jetflow-no-such-bucket/);
    }
  } finally {
    store.close();
  }
});

t("wrong credentials fail with AccessDenied-style errors, never a silent null or false", async () => {
  const store = createS3BlobStore({ bucket: s3!.svc.bucket, clientConfig: adapterClientConfig(s3!.svc, "wrong-secret") });
  try {
    for (const op of [() => store.get("k"), () => store.has("k"), () => store.put("k", enc.encode("x"))]) {
      const err = await op().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(err, S3AdapterError);
      assert.is((err as S3AdapterError).status, 403);
    }
  } finally {
    store.close();
  }
});

t("keys S3 cannot hold are refused before any request, naming the field", async () => {
  const store = freshStore();
  try {
    for (const key of ["", "x".repeat(1100)]) {
      const err = await store.put(key, enc.encode("x")).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(err, ValidationError);
      assert.match((err as Error).message, /key/);
    }
  } finally {
    store.close();
  }
});

test.after(async () => {
  await s3?.stop();
});
test.run();

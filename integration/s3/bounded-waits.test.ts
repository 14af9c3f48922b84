/**
 * Every S3 call is bounded: a store that accepts the connection and then says nothing, or
 * cannot be reached at all, fails with a retryable typed error instead of hanging a job.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createServer, type Socket } from "node:net";
import { createS3BlobStore, S3AdapterError } from "../../adapters/s3/index.js";
import { freePort } from "../harness/index.js";

const credentials = { accessKeyId: "a", secretAccessKey: "b" };

test("a silent server: the request is abandoned after socketTimeoutMs, per attempt, as UNAVAILABLE", async () => {
  const sockets = new Set<Socket>();
  const silent = createServer((s) => {
    sockets.add(s); // read nothing, answer nothing
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  const port = (silent.address() as { port: number }).port;
  const store = createS3BlobStore({
    bucket: "jetflow",
    clientConfig: {
      region: "us-east-1",
      endpoint: `http://127.0.0.1:${port}`,
      credentials,
      forcePathStyle: true,
      socketTimeoutMs: 300,
      maxAttempts: 2,
    },
  });
  try {
    const started = Date.now();
    const err = await store.get("k").then(
      () => undefined,
      (e: unknown) => e,
    );
    const took = Date.now() - started;
    assert.instance(err, S3AdapterError);
    assert.is((err as S3AdapterError).code, "UNAVAILABLE");
    assert.is((err as S3AdapterError).operation, "get");
    assert.ok(took >= 2 * 300 - 50 && took < 10_000, `took ${took} ms`);
  } finally {
    store.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }
});

test("nothing listening: fails at once as UNAVAILABLE (retryable), naming the object", async () => {
  const port = await freePort();
  const store = createS3BlobStore({
    bucket: "jetflow",
    prefix: "p/",
    clientConfig: { region: "us-east-1", endpoint: `http://127.0.0.1:${port}`, credentials, forcePathStyle: true, maxAttempts: 1 },
  });
  try {
    const err = await store.put("k", new Uint8Array([1])).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, S3AdapterError);
    assert.is((err as S3AdapterError).code, "UNAVAILABLE");
    assert.match((err as Error).message, /s3:\/\/jetflow\/p\/k/);
  } finally {
    store.close();
  }
});

test.run();

// Streaming artifacts on a remote worker (ctx.artifacts.putFile/putStream/getToFile/getStream):
// the bytes go over presigned (multipart) URLs of the in-process transport, inline and from an
// activity thread, with exact sizes, bounded part retries and the task's upload limit.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createActivityWorker, loadStageModule, type ActivityWorker } from "../../worker-sdk/index.js";
import { makeFixture, spec, until, type Fixture } from "../remote/helpers/fixture.js";
import { pattern } from "./fixtures/stream-activities.js";

const MODULE = new URL("./fixtures/stream-activities.ts", import.meta.url).pathname;
const mod = await loadStageModule(MODULE);

const make = (f: Fixture, isolation: "thread" | "inline", over: Record<string, unknown> = {}): ActivityWorker =>
  createActivityWorker({
    transport: f.transport.worker,
    queue: "q",
    stageCodeVersion: "v1",
    registry: mod.stages,
    ...(isolation === "thread" ? { modulePath: mod.file } : {}),
    isolation,
    workerId: "w1",
    pollWaitMs: 50,
    partSize: 1_000,
    ...over,
  });

/** Runs one task of `stageId` to its end and returns its outcome. */
async function runOne(f: Fixture, stageId: string, n: number, o: { isolation?: "thread" | "inline"; maxUploadBytes?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "jetflow-stream-"));
  const w = make(f, o.isolation ?? "inline");
  try {
    const id = await f.broker.submit(
      spec({ stageId, input: { n, dir }, maxAttempts: 1, ...(o.maxUploadBytes ? { maxUploadBytes: o.maxUploadBytes } : {}) }),
    );
    w.start();
    await until(async () => (await f.broker.getOutcome(id))!.status !== "pending", 20_000, `task ${stageId} to end`);
    return (await f.broker.getOutcome(id))!;
  } finally {
    await w.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const isolation of ["inline", "thread"] as const) {
  test(`${isolation}: putFile/putStream go up as multipart, getToFile/getStream bring the same bytes back; missing is null`, async () => {
    const f = await makeFixture({ http: true });
    try {
      const o = await runOne(f, "streams", 2_500, { isolation });
      assert.is(o.status, "completed", o.error ?? "");
      assert.equal(JSON.parse(o.logs[0]!.message), {
        file: { key: "runs/run-1/streams/1/file.bin", size: 2_500 },
        stream: { key: "runs/run-1/streams/1/stream.bin", size: 2_500 },
        back: { key: "runs/run-1/streams/1/file.bin", size: 2_500 },
        fileSame: true,
        streamSame: true,
        missingFile: null,
        missingStream: null,
        nopeWritten: false,
      });
      assert.equal(
        f.objects.signed.filter((s) => s.op === "multipart").map((s) => s.key),
        ["runs/run-1/streams/1/file.bin", "runs/run-1/streams/1/stream.bin"],
      );
      assert.equal([...(await f.blobs.get("runs/run-1/streams/1/stream.bin"))!], [...pattern(2_500)]);
    } finally {
      await f.close();
    }
  });
}

test("an artifact that fits one part goes up as a single presigned PUT", async () => {
  const f = await makeFixture({ http: true });
  try {
    const o = await runOne(f, "file", 900);
    assert.is(o.status, "completed", o.error ?? "");
    assert.equal(
      f.objects.signed.map((s) => s.op),
      ["PUT"],
    );
    assert.equal([...(await f.blobs.get("runs/run-1/file/1/file.bin"))!], [...pattern(900)]);
  } finally {
    await f.close();
  }
});

for (const [stageId, why] of [
  ["short", /expected 2510 bytes, but the stream ended after 2500/],
  ["over", /expected 2490 bytes, but the stream ran on/],
] as const) {
  test(`a stream that is ${stageId === "short" ? "shorter" : "longer"} than declared fails with a size mismatch and stores nothing`, async () => {
    const f = await makeFixture({ http: true });
    try {
      const o = await runOne(f, stageId, 2_500, { isolation: "thread" });
      assert.is(o.status, "failed");
      assert.match(o.error!, why);
      assert.equal(await f.blobs.list("runs/"), []);
      assert.is(f.objects.uploads.size, 0, "the multipart upload was aborted");
    } finally {
      await f.close();
    }
  });
}

test("putFile over the task's maxUploadBytes is refused before any URL is signed", async () => {
  const f = await makeFixture({ http: true });
  try {
    const o = await runOne(f, "file", 2_500, { maxUploadBytes: 2_000 });
    assert.is(o.status, "failed");
    assert.match(o.error!, /2500 bytes, over the task's maxUploadBytes limit of 2000 bytes/);
    assert.equal(f.objects.signed, []);
  } finally {
    await f.close();
  }
});

test("a part that fails with 503 is retried and the upload completes; one that keeps failing fails the upload after 3 tries and aborts it", async () => {
  const f = await makeFixture({ http: true });
  try {
    const tries = new Map<string, number>();
    f.objects.fault = (method, url) => {
      const part = url.searchParams.get("partNumber");
      if (method !== "PUT" || part !== "2") return undefined;
      const n = (tries.get(url.pathname) ?? 0) + 1;
      tries.set(url.pathname, n);
      // file.bin's part 2 fails once; file.bin in run-2 (below) always.
      return n === 1 || url.pathname.includes("run-2") ? 503 : undefined;
    };
    const ok = await runOne(f, "file", 2_500);
    assert.is(ok.status, "completed", ok.error ?? "");
    assert.equal([...(await f.blobs.get("runs/run-1/file/1/file.bin"))!], [...pattern(2_500)]);

    const dir = mkdtempSync(join(tmpdir(), "jetflow-stream-"));
    const w = make(f, "inline");
    try {
      const id = await f.broker.submit(spec({ workflowRunId: "run-2", stageId: "file", input: { n: 2_500, dir }, maxAttempts: 1 }));
      w.start();
      await until(async () => (await f.broker.getOutcome(id))!.status !== "pending", 20_000, "the failing upload to end");
      const bad = (await f.broker.getOutcome(id))!;
      assert.is(bad.status, "failed");
      assert.match(bad.error!, /part 2 failed after 3 attempt\(s\) \(HTTP 503\)/);
      assert.is(tries.get("/o/runs%2Frun-2%2Ffile%2F1%2Ffile.bin"), 3);
      assert.equal(await f.blobs.list("runs/run-2/"), []);
      assert.is(f.objects.uploads.size, 0, "the multipart upload was aborted");
    } finally {
      await w.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await f.close();
  }
});

test("a download that fails with 503 is tried again and brings the whole artifact", async () => {
  const f = await makeFixture({ http: true });
  try {
    const failed = new Set<string>();
    f.objects.fault = (method, url) => {
      if (method !== "GET" || failed.has(url.pathname)) return undefined;
      failed.add(url.pathname);
      return 503;
    };
    const o = await runOne(f, "streams", 2_500);
    assert.is(o.status, "completed", o.error ?? "");
    const seen = JSON.parse(o.logs[0]!.message) as { fileSame: boolean; streamSame: boolean; missingFile: null };
    assert.equal([seen.fileSame, seen.streamSame, seen.missingFile], [true, true, null]);
    assert.is(failed.size, 3, "file.bin, stream.bin and nope.bin each failed once");
  } finally {
    await f.close();
  }
});

test.run();

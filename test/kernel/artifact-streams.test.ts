// Streaming artifact calls of stages the orchestrator runs itself (the in-memory BlobStore takes
// whole buffers): the same results and checks as on a remote worker, and the part size rule the
// worker's streaming uploads share with the S3 presigner.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { stageArtifacts } from "../../src/kernel/stage-context.js";
import type { KernelDeps } from "../../src/kernel/deps.js";
import { InMemoryBlobStore } from "../../src/testing/in-memory-blob-store.js";
import { systemClock } from "../../src/ports/clock.js";
import { MAX_PART_SIZE, streamingPartSize } from "../../src/contract/multipart-limits.js";
import { planMultipart } from "../../adapters/s3/multipart-plan.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function setup() {
  const blobStore = new InMemoryBlobStore();
  const recorded: { key: string; size: number }[] = [];
  const deps = {
    blobStore,
    clock: systemClock,
    persistence: { recordArtifact: async (a: { key: string; size: number }) => void recorded.push({ key: a.key, size: a.size }) },
  } as unknown as KernelDeps;
  const dir = mkdtempSync(join(tmpdir(), "jetflow-local-stream-"));
  return {
    blobStore,
    recorded,
    artifacts: stageArtifacts(deps, "run-1", "s"),
    dir,
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

const data = new Uint8Array(3_000).map((_, i) => i % 253);
const chunks = () => Readable.from([data.slice(0, 1_000), data.slice(1_000, 2_999), data.slice(2_999)]);

test("local stages: putFile/putStream store and record the bytes; getToFile/getStream read them back; missing is null", async () => {
  const s = setup();
  try {
    writeFileSync(join(s.dir, "in.bin"), data);
    assert.equal(await s.artifacts.putFile("f.bin", join(s.dir, "in.bin")), { key: "runs/run-1/s/f.bin", size: 3_000 });
    assert.equal(await s.artifacts.putStream("g.bin", chunks(), { size: 3_000 }), { key: "runs/run-1/s/g.bin", size: 3_000 });
    assert.equal(s.recorded, [
      { key: "runs/run-1/s/f.bin", size: 3_000 },
      { key: "runs/run-1/s/g.bin", size: 3_000 },
    ]);
    assert.equal(await s.artifacts.getToFile("f.bin", join(s.dir, "out.bin")), { key: "runs/run-1/s/f.bin", size: 3_000 });
    assert.equal([...readFileSync(join(s.dir, "out.bin"))], [...data]);
    const parts: Buffer[] = [];
    for await (const c of (await s.artifacts.getStream("runs/run-1/s/g.bin"))!) parts.push(Buffer.from(c as Uint8Array));
    assert.equal([...Buffer.concat(parts)], [...data]);
    assert.is(await s.artifacts.getToFile("nope.bin", join(s.dir, "nope.bin")), null);
    assert.is(existsSync(join(s.dir, "nope.bin")), false);
    assert.is(await s.artifacts.getStream("nope.bin"), null);
  } finally {
    s.done();
  }
});

test("local stages: a stream shorter or longer than declared is refused and nothing is stored", async () => {
  const s = setup();
  try {
    for (const [size, why] of [
      [3_010, /expected 3010 bytes, but the stream ended after 3000/],
      [2_990, /expected 2990 bytes, but the stream ran on/],
    ] as const) {
      const err = await s.artifacts.putStream("x.bin", chunks(), { size }).then(
        (): never => assert.unreachable("expected a refusal") as never,
        (e: Error) => e,
      );
      assert.match(err.message, why);
    }
    assert.equal(await s.blobStore.list("runs/"), []);
    assert.equal(s.recorded, []);
  } finally {
    s.done();
  }
});

test("streaming part size: the preferred size while 10,000 parts cover the object, else grown in whole MiB; the S3 planner accepts it", () => {
  assert.is(streamingPartSize(6 * GiB, 64 * MiB), 64 * MiB);
  assert.is(streamingPartSize(1_000 * GiB, 64 * MiB), 103 * MiB);
  // Small preferred sizes (tests) are honoured while they suffice.
  assert.is(streamingPartSize(2_500, 1_000), 1_000);
  for (const size of [6 * GiB, 1_000 * GiB, 40_000 * GiB]) {
    const ps = streamingPartSize(size, 64 * MiB)!;
    assert.ok(planMultipart(size, ps).partCount <= 10_000, `${size}`);
  }
  // Beyond 10,000 parts of 5 GiB nothing fits.
  assert.is(streamingPartSize(10_000 * MAX_PART_SIZE + 1, 64 * MiB), undefined);
});

test.run();

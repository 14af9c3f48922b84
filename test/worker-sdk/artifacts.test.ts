import { test } from "uvu";
import * as assert from "uvu/assert";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { makeFixture, spec, stage, until } from "../remote/helpers/fixture.js";

const run = async (f: Awaited<ReturnType<typeof makeFixture>>, body: Parameters<typeof stage>[1], over: Record<string, unknown> = {}) => {
  const w = createActivityWorker({
    transport: f.transport.worker,
    queue: "q",
    stageCodeVersion: "v1",
    registry: { heavy: stage("heavy", body) },
    workerId: "w",
    pollWaitMs: 50,
    ...over,
  });
  const id = await f.broker.submit(spec({ maxAttempts: 1 }));
  w.start();
  await until(async () => (await f.broker.getOutcome(id))!.status !== "pending", 5_000, "outcome");
  await w.stop();
  return (await f.broker.getOutcome(id))!;
};

test("artifacts.put/get move bytes over presigned URLs under the attempt's prefix", async () => {
  const f = await makeFixture({ http: true });
  try {
    const o = await run(f, async (ctx) => {
      const put = await ctx.artifacts.put("frames/0001.bin", new Uint8Array([1, 2, 3]));
      const back = await ctx.artifacts.get("frames/0001.bin");
      const missing = await ctx.artifacts.get("nope.bin");
      const listed = await ctx.artifacts.list();
      await ctx.log("INFO", JSON.stringify({ put, back: [...(back ?? [])], missing, listed }));
      return { output: { r: 1 } };
    });
    assert.is(o.status, "completed");
    assert.equal(JSON.parse(o.logs[0]!.message), {
      put: { key: "runs/run-1/heavy/1/frames/0001.bin", size: 3 },
      back: [1, 2, 3],
      missing: null,
      listed: ["runs/run-1/heavy/1/frames/0001.bin"],
    });
  } finally {
    await f.close();
  }
});

test("large artifacts go up as presigned multipart and are reassembled byte for byte", async () => {
  const f = await makeFixture({ http: true });
  try {
    const data = new Uint8Array(2_500).map((_, i) => i % 251);
    const o = await run(
      f,
      async (ctx) => {
        await ctx.artifacts.put("big.bin", data);
        return { output: { r: 1 } };
      },
      { partSize: 1_000 },
    );
    assert.is(o.status, "completed");
    assert.equal(
      f.objects.signed.filter((s) => s.op === "multipart").map((s) => s.key),
      ["runs/run-1/heavy/1/big.bin"],
    );
    assert.equal([...(await f.blobs.get("runs/run-1/heavy/1/big.bin"))!], [...data]);
  } finally {
    await f.close();
  }
});

test("a worker writing outside its prefix gets a typed refusal (and the attempt fails)", async () => {
  const f = await makeFixture({ http: true });
  try {
    const o = await run(f, async (ctx) => {
      await ctx.artifacts.put("../../../run-2/heavy/1/x", "evil");
      return { output: { r: 1 } };
    });
    assert.is(o.status, "failed");
    assert.match(o.error!, /presign refused/);
    assert.equal(await f.blobs.list("runs/run-2/"), []);
  } finally {
    await f.close();
  }
});

test("a large output is stored by reference and read back by the orchestrator", async () => {
  const f = await makeFixture({ http: true });
  try {
    const o = await run(f, async () => ({ output: { r: 7 } }), { inlineOutputLimitBytes: 4 });
    assert.is(o.status, "completed");
    assert.equal(o.output, { r: 7 });
    const raw = (await f.store.getTask("run-1.heavy.1"))!.report as { outputRef?: { key: string }; output?: unknown };
    assert.is(raw.outputRef!.key, "runs/run-1/heavy/1/_output.json");
    assert.is(raw.output, undefined);
  } finally {
    await f.close();
  }
});

test.run();

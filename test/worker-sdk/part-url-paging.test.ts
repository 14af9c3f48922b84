// Multipart uploads whose part URLs come a page at a time: pages are asked for ahead of need, a
// URL near its expiry is re-signed before use, one the store answers as expired is re-signed and
// sent once more, and the broker refuses pages for uploads this attempt did not start. Fake
// clocks and tiny parts: nothing waits for a real expiry.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Readable } from "node:stream";
import { createRemoteArtifacts, silentWorkerLogger } from "../../worker-sdk/index.js";
import type { LeasedTask } from "../../worker-sdk/transport.js";
import { PartUrls, type PartPage } from "../../worker-sdk/part-urls.js";
import { JetflowError } from "../../src/contract/errors.js";
import { Broker } from "../../src/remote/broker.js";
import { makeFixture, spec, type Fixture } from "../remote/helpers/fixture.js";
import { pattern } from "./fixtures/stream-activities.js";

const PART = 1_000;

/** A fake epoch clock the test moves. */
const fakeClock = (start = 1_000_000) => {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
};

async function leaseOf(f: Fixture, workflowRunId = "run-1"): Promise<LeasedTask> {
  await f.broker.submit(spec({ workflowRunId, stageId: "up", maxAttempts: 2 }));
  const l = await f.transport.worker.next("q", { workerId: "w1", codeVersion: "v1", labels: {}, waitMs: 2_000 });
  assert.ok(l, "a task was leased");
  return l;
}

/** `data` as a stream that calls `onPart` each time a part's worth of bytes has been read. */
function streamOf(data: Uint8Array, onChunk: () => void = () => {}): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += PART) {
        onChunk();
        yield data.slice(i, i + PART);
      }
    })(),
  );
}

test("PartUrls: pages are asked for as the upload reaches them, the next one while the current is in use", async () => {
  const clock = fakeClock();
  const asked: [number, number][] = [];
  const page = (from: number, count: number): PartPage => ({
    parts: Array.from({ length: count }, (_, i) => ({ partNumber: from + i, url: `u${from + i}`, size: PART })),
    expiresAt: new Date(clock.now() + 900_000).toISOString(),
  });
  const urls = new PartUrls({ partCount: 10, pageSize: 4, now: clock.now, fetchPage: async (f, c) => (asked.push([f, c]), page(f, c)) });
  urls.seed(page(1, 4));
  assert.is((await urls.take(1)).url, "u1");
  assert.equal(asked, [], "no page asked while more than half a page lies ahead");
  assert.is((await urls.take(2)).url, "u2");
  assert.equal(asked, [[5, 4]], "the next page is asked for at half the current one");
  for (const n of [3, 4, 5, 6, 7]) assert.is((await urls.take(n)).url, `u${n}`);
  assert.equal(
    asked,
    [
      [5, 4],
      [9, 2],
    ],
    "the last page asks only for the parts that exist",
  );
  for (const n of [8, 9, 10]) assert.is((await urls.take(n)).url, `u${n}`);
  assert.is(urls.pagesFetched, 2);
});

test("PartUrls: a URL within the margin of its expiry is not used; its page is signed again", async () => {
  const clock = fakeClock();
  let signing = 0;
  const page = (from: number, count: number): PartPage => ({
    parts: Array.from({ length: count }, (_, i) => ({ partNumber: from + i, url: `u${from + i}@${signing}`, size: PART })),
    expiresAt: new Date(clock.now() + 10_000).toISOString(),
  });
  const asked: number[] = [];
  const urls = new PartUrls({
    partCount: 3,
    pageSize: 3,
    now: clock.now,
    fetchPage: async (f, c) => (asked.push(f), ++signing, page(f, c)),
  });
  urls.seed(page(1, 3));
  clock.advance(7_000);
  assert.is((await urls.take(1)).url, "u1@0", "3 s of 10 left is outside the 2 s margin");
  clock.advance(1_500);
  assert.is((await urls.take(2)).url, "u2@1", "1.5 s left: re-signed from part 2");
  assert.equal(asked, [2]);
  assert.is((await urls.take(3)).url, "u3@1");
  assert.is((await urls.take(3, true)).url, "u3@2", "fresh: the store refused it, so it is signed again");
});

test("PartUrls: a page the broker cut short is continued from its last part", async () => {
  const clock = fakeClock();
  const asked: [number, number][] = [];
  const urls = new PartUrls({
    partCount: 6,
    pageSize: 6,
    now: clock.now,
    fetchPage: async (from, count) => {
      asked.push([from, count]);
      const n = Math.min(count, 2);
      return { parts: Array.from({ length: n }, (_, i) => ({ partNumber: from + i, url: `u${from + i}` })) };
    },
  });
  for (let n = 1; n <= 6; n++) assert.is((await urls.take(n)).url, `u${n}`);
  assert.equal(
    asked.map((a) => a[0]),
    [1, 3, 5],
  );
});

test("putStream of 11 parts with a broker page of 3: every part signed once, in pages, and the object is whole", async () => {
  const f = await makeFixture({ http: true, broker: { presignPageParts: 3 } });
  try {
    const lease = await leaseOf(f);
    const a = createRemoteArtifacts(f.transport.worker, lease, {
      partSize: PART,
      signal: new AbortController().signal,
      logger: silentWorkerLogger,
    });
    const data = pattern(10_500);
    const out = await a.putStream("big.bin", streamOf(data), { size: data.length });
    assert.equal(out, { key: "runs/run-1/up/1/big.bin", size: 10_500 });
    assert.equal([...(await f.blobs.get(out.key))!], [...data]);
    assert.equal(
      [...f.objects.signedParts].sort((x, y) => x - y),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    );
    assert.equal(f.objects.signedParts.slice(0, 3), [1, 2, 3], "the multipart reply carries the first page only");
  } finally {
    await f.close();
  }
});

test("an upload that outlives its URLs: parts near expiry are re-signed before use, and nothing is refused as expired", async () => {
  const f = await makeFixture({ http: true, broker: { presignPageParts: 4 } });
  const clock = fakeClock();
  f.objects.now = clock.now;
  f.objects.partUrlLifetimeMs = 10_000;
  let refusedExpired = 0;
  f.objects.fault = (method, url) => {
    if (method === "PUT" && Number(url.searchParams.get("exp")) <= clock.now()) refusedExpired++;
    return undefined;
  };
  try {
    const lease = await leaseOf(f);
    const a = createRemoteArtifacts(f.transport.worker, lease, {
      partSize: PART,
      partConcurrency: 1,
      now: clock.now,
      signal: new AbortController().signal,
      logger: silentWorkerLogger,
    });
    const data = pattern(8_000);
    // Each part takes 3 s of the fake clock to read: 8 parts are 24 s, over twice a URL's life.
    const out = await a.putStream(
      "slow.bin",
      streamOf(data, () => clock.advance(3_000)),
      { size: data.length },
    );
    assert.equal([...(await f.blobs.get(out.key))!], [...data]);
    assert.is(refusedExpired, 0);
    const signs = f.objects.signedParts.length;
    assert.ok(signs > 8, `some parts were signed again (${signs} signatures for 8 parts)`);
  } finally {
    await f.close();
  }
});

test("a part the store answers 403 'Request has expired' is re-signed and sent once more; a second refusal fails the upload", async () => {
  const f = await makeFixture({ http: true });
  const clock = fakeClock();
  let skew = 0;
  // The store's clock runs ahead of the worker's: URLs the worker thinks fresh are already expired there.
  f.objects.now = () => clock.now() + skew;
  f.objects.partUrlLifetimeMs = 10_000;
  try {
    const lease = await leaseOf(f);
    const opts = { partSize: PART, partConcurrency: 1, now: clock.now, signal: new AbortController().signal, logger: silentWorkerLogger };
    const a = createRemoteArtifacts(f.transport.worker, lease, opts);
    const data = pattern(3_000);
    let reads = 0;
    // Before part 2 is sent, the store jumps 20 s ahead: part 2's URL is expired there, its re-signed one is not.
    const out = await a.putStream(
      "skew.bin",
      streamOf(data, () => void (++reads === 2 && (skew = 20_000))),
      { size: data.length },
    );
    assert.equal([...(await f.blobs.get(out.key))!], [...data]);
    assert.equal(
      f.objects.signedParts.filter((n) => n === 2),
      [2, 2],
      "part 2 was signed twice",
    );

    assert.is(f.objects.uploads.size, 0);
    // A store that refuses every URL as expired: one re-sign, then the upload fails and is aborted.
    f.objects.partUrlLifetimeMs = -1;
    const err = await a.putStream("never.bin", streamOf(data), { size: data.length }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    assert.ok(err, "the upload failed");
    assert.match(err.message, /part 1 failed after 1 attempt\(s\) \(HTTP 403\).*Request has expired/);
    assert.is(f.objects.uploads.size, 0, "the failed upload was aborted (the completed one is gone too)");
  } finally {
    await f.close();
  }
});

test("the broker refuses a page for another attempt's or task's upload, outside the prefix, or beyond maxUploadBytes", async () => {
  const f = await makeFixture({ http: true, maxUploadBytes: 20_000 });
  try {
    const mine = await leaseOf(f, "run-1");
    const other = await leaseOf(f, "run-2");
    const t = f.transport.worker;
    const m = await t.presign(mine, { op: "multipart", key: "m.bin", size: 10_000, partSize: PART, partsCount: 2 });
    assert.equal([m.partCount, m.parts!.length], [10, 2]);
    const theirs = await t.presign(other, { op: "multipart", key: "m.bin", size: 10_000, partSize: PART });
    const page = { op: "parts" as const, size: 10_000, partSize: PART, partsFrom: 3, partsCount: 2 };
    const ok = await t.presign(mine, { ...page, key: "m.bin", uploadId: m.uploadId!, uploadTicket: m.uploadTicket! });
    assert.equal(
      ok.parts!.map((p) => p.partNumber),
      [3, 4],
    );
    const refused = async (p: Promise<unknown>, why: RegExp) => {
      const e = await p.then(
        () => null,
        (x: unknown) => x as JetflowError,
      );
      assert.ok(e, `refused (${String(why)})`);
      assert.match(e.message, why);
    };
    // Another task's upload id, with its own ticket or with ours.
    await refused(
      t.presign(mine, { ...page, key: "m.bin", uploadId: theirs.uploadId!, uploadTicket: theirs.uploadTicket! }),
      /was not started by attempt 1 of task/,
    );
    await refused(
      t.presign(mine, { ...page, key: "m.bin", uploadId: theirs.uploadId!, uploadTicket: m.uploadTicket! }),
      /bad or missing uploadTicket/,
    );
    // Our upload id under another key, or outside the attempt's prefix.
    await refused(
      t.presign(mine, { ...page, key: "other.bin", uploadId: m.uploadId!, uploadTicket: m.uploadTicket! }),
      /bad or missing uploadTicket/,
    );
    await refused(
      t.presign(mine, { ...page, key: "runs/run-2/up/1/m.bin", uploadId: m.uploadId!, uploadTicket: m.uploadTicket! }),
      /confined to this attempt's prefix/,
    );
    // A larger declared size (bigger parts, more of them) than the upload was started with; over the limit.
    await refused(
      t.presign(mine, { ...page, size: 15_000, key: "m.bin", uploadId: m.uploadId!, uploadTicket: m.uploadTicket! }),
      /bad or missing uploadTicket/,
    );
    await refused(
      t.presign(mine, { ...page, partSize: 5_000, key: "m.bin", uploadId: m.uploadId!, uploadTicket: m.uploadTicket! }),
      /bad or missing uploadTicket/,
    );
    await refused(
      t.presign(mine, { ...page, size: 20_001, key: "m.bin", uploadId: m.uploadId!, uploadTicket: m.uploadTicket! }),
      /exceed the task's maxUploadBytes limit of 20000/,
    );
    // Parts past the upload's last.
    await refused(
      t.presign(mine, { ...page, partsFrom: 11, key: "m.bin", uploadId: m.uploadId!, uploadTicket: m.uploadTicket! }),
      /parts from 11 asked for an upload of 10 parts/,
    );
    // A later attempt of the same task (the lease moved on) can no longer use the first attempt's upload.
    await f.transport.worker.release(mine, { delayMs: 0 });
    const second = await f.transport.worker.next("q", { workerId: "w2", codeVersion: "v1", labels: {}, waitMs: 2_000 });
    assert.ok(second && second.attempt === 2 && second.task.taskId === mine.task.taskId, "attempt 2 of the first task");
    await refused(t.presign(mine, { ...page, key: "m.bin", uploadId: m.uploadId!, uploadTicket: m.uploadTicket! }), /lease/);
    await refused(
      t.presign(second, { ...page, key: "m.bin", uploadId: m.uploadId!, uploadTicket: m.uploadTicket! }),
      /was not started by attempt 2/,
    );
  } finally {
    await f.close();
  }
});

test("brokers sharing uploadTicketSecret accept each other's upload tickets; a broker with another secret refuses them", async () => {
  const shared = "s".repeat(32);
  const a = await makeFixture({ http: true, broker: { uploadTicketSecret: shared } });
  try {
    const lease = await leaseOf(a);
    const m = await a.transport.worker.presign(lease, { op: "multipart", key: "m.bin", size: 5_000, partSize: PART, partsCount: 1 });
    const page = {
      op: "parts" as const,
      key: "m.bin",
      uploadId: m.uploadId!,
      uploadTicket: m.uploadTicket!,
      size: 5_000,
      partSize: PART,
      partsFrom: 2,
    };
    const raw = { ...page, taskId: lease.task.taskId, attempt: lease.attempt, leaseToken: lease.leaseToken };
    // A second orchestrator's broker on the same task store and object store.
    const twin = (secret: string) =>
      new Broker({ store: a.store, presigner: a.objects, clock: { now: () => new Date() }, uploadTicketSecret: secret });
    assert.equal(
      (await twin(shared).presign(raw)).parts!.map((p) => p.partNumber),
      [2, 3, 4, 5],
    );
    const err = await twin("o".repeat(32))
      .presign(raw)
      .then(
        () => null,
        (e: unknown) => e as Error,
      );
    assert.match(err?.message ?? "", /orchestrators sharing a queue need the same remote\.uploadTicketSecret/);
  } finally {
    await a.close();
  }
});

test("brokers with no configured secret adopt the database's shared one; a configured secret is kept", async () => {
  const a = await makeFixture({ http: true });
  try {
    const fromDatabase = "d".repeat(32);
    a.broker.useSharedUploadTicketSecret(fromDatabase);
    const lease = await leaseOf(a);
    const m = await a.transport.worker.presign(lease, { op: "multipart", key: "m.bin", size: 5_000, partSize: PART, partsCount: 1 });
    const raw = {
      op: "parts" as const,
      key: "m.bin",
      uploadId: m.uploadId!,
      uploadTicket: m.uploadTicket!,
      size: 5_000,
      partSize: PART,
      partsFrom: 2,
      taskId: lease.task.taskId,
      attempt: lease.attempt,
      leaseToken: lease.leaseToken,
    };
    const twin = (configured?: string) => {
      const b = new Broker({
        store: a.store,
        presigner: a.objects,
        clock: { now: () => new Date() },
        ...(configured ? { uploadTicketSecret: configured } : {}),
      });
      b.useSharedUploadTicketSecret(fromDatabase);
      return b;
    };
    assert.equal(
      (await twin().presign(raw)).parts!.map((p) => p.partNumber),
      [2, 3, 4, 5],
      "a second orchestrator with the database's secret serves the next page",
    );
    const refused = await twin("c".repeat(32))
      .presign(raw)
      .then(
        () => null,
        (e: unknown) => e as Error,
      );
    assert.match(refused?.message ?? "", /bad or missing uploadTicket/, "a configured secret wins over the shared one");
  } finally {
    await a.close();
  }
});

test.run();

import { test } from "uvu";
import * as assert from "uvu/assert";
import { randomUUID } from "node:crypto";
import { FakeClock } from "../../src/testing/fake-clock.js";
import { ProtocolError } from "../../src/contract/protocol-error.js";
import { LeaseNotHeldError, PresignRefusedError, UploadTooLargeError } from "../../src/remote/errors.js";
import { makeFixture, spec } from "./helpers/fixture.js";

type Fix = Awaited<ReturnType<typeof makeFixture>>;

/**
 * A worker's start of delivery `attempt`, with the task message's capability. An older attempt
 * still holding the lease gives it up first, as JetStream redelivers only after the holder naks
 * or goes silent. The reply's broker-issued lease token is returned as `leaseToken`.
 */
const start = async (f: Fix, taskId: string, attempt: number, extra: Record<string, unknown> = {}) => {
  const t = await f.store.getTask(taskId);
  if (t?.status === "LEASED" && t.attempt < attempt) {
    await f.broker.handleHeartbeat({ taskId, attempt: t.attempt, leaseToken: t.leaseToken, workerId: t.workerId, release: true });
  }
  const r = await f.broker.handleHeartbeat({
    start: true,
    taskId,
    attempt,
    workerId: `w${attempt}`,
    codeVersion: "v1",
    capability: t?.capability,
    ...extra,
  });
  return { ...r, leaseToken: r.leaseToken ?? "" };
};
const report = (taskId: string, attempt: number, leaseToken: string, over: Record<string, unknown> = {}) => ({
  v: 1,
  taskId,
  attempt,
  leaseToken,
  workerId: `w${attempt}`,
  codeVersion: "v1",
  outcome: "completed",
  output: { r: attempt },
  logs: [],
  reportedAt: new Date().toISOString(),
  ...over,
});

test("submit is idempotent per run, stage and kernel attempt (one task, one message)", async () => {
  const f = await makeFixture();
  const a = await f.broker.submit(spec());
  const b = await f.broker.submit(spec());
  const c = await f.broker.submit(spec({ kernelAttempt: 2 }));
  assert.is(a, b);
  assert.is.not(a, c);
  assert.is(f.transport.size(), 2);
  assert.is((await f.store.listTasks({})).length, 2);
});

test("fencing: attempt 1's late report after attempt 2 started is refused as stale and changes nothing", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec());
  const s1 = await start(f, id, 1);
  const s2 = await start(f, id, 2);
  assert.ok(s1.accepted && s2.accepted);
  const late = await f.broker.report(report(id, 1, s1.leaseToken, { output: { r: 111 } }));
  assert.equal(late, { accepted: false, reason: "stale_attempt", taskId: id });
  assert.is((await f.broker.getOutcome(id))!.status, "pending");
  assert.ok((await f.broker.report(report(id, 2, s2.leaseToken))).accepted);
  const o = await f.broker.getOutcome(id);
  assert.is(o!.status, "completed");
  assert.equal(o!.output, { r: 2 });
  // The superseded attempt cannot start again either.
  assert.is((await start(f, id, 1)).accepted, false);
});

test("exactly one terminal outcome: a second report of the same attempt is refused", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec());
  const s = await start(f, id, 1);
  assert.ok((await f.broker.report(report(id, 1, s.leaseToken, { outcome: "failed", error: "boom", output: undefined }))).accepted);
  const again = await f.broker.report(report(id, 1, s.leaseToken));
  assert.is(again.reason, "already_terminal");
  const o = await f.broker.getOutcome(id);
  assert.is(o!.status, "failed");
  assert.is(o!.error, "boom");
});

test("cancelled run: heartbeats answer cancelled, a later report is recorded and ignored", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec());
  const other = await f.broker.submit(spec({ workflowRunId: "run-2" }));
  const s = await start(f, id, 1);
  assert.equal(await f.broker.cancelRun("run-1"), [id]);
  assert.equal(f.transport.cancelNotices, [{ workflowRunId: "run-1", queue: "q", taskIds: [id] }]);
  const hb = await f.broker.handleHeartbeat({ taskId: id, attempt: 1, leaseToken: s.leaseToken, workerId: "w1", details: { p: 1 } });
  assert.is(hb.cancelled, true);
  const r = await f.broker.report(report(id, 1, s.leaseToken));
  assert.is(r.reason, "run_cancelled");
  assert.is(f.store.rejectedReports.length, 1);
  assert.is((await f.broker.getOutcome(id))!.status, "cancelled");
  assert.is((await f.broker.getOutcome(other))!.status, "pending");
});

test("heartbeat details of attempt 1 reach attempt 2's start; a bare beat keeps them", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec());
  const s1 = await start(f, id, 1);
  assert.is(s1.heartbeatDetails, undefined);
  await f.broker.handleHeartbeat({ taskId: id, attempt: 1, leaseToken: s1.leaseToken, workerId: "w1", details: { page: 7 } });
  await f.broker.handleHeartbeat({ taskId: id, attempt: 1, leaseToken: s1.leaseToken, workerId: "w1" });
  const s2 = await start(f, id, 2);
  assert.equal(s2.heartbeatDetails, { page: 7 });
});

test("a report from other code fails the task naming both versions", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec());
  const s = await start(f, id, 1);
  assert.ok((await f.broker.report(report(id, 1, s.leaseToken, { codeVersion: "v2" }))).accepted);
  const o = await f.broker.getOutcome(id);
  assert.is(o!.status, "failed");
  assert.match(o!.error!, /"v1"/);
  assert.match(o!.error!, /"v2"/);
});

test("a worker of another code version starting the task fails it naming both versions", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec());
  const s = await start(f, id, 1, { codeVersion: "v9" });
  assert.is(s.accepted, false);
  const o = await f.broker.getOutcome(id);
  assert.is(o!.status, "failed");
  assert.match(o!.error!, /"v1".*"v9"/);
});

test("presign: uploads are bounded by the task's maxUploadBytes (the stage's, else the broker's default), declared and refused above it", async () => {
  const f = await makeFixture({ maxUploadBytes: 100 });
  const tooBig = async (p: Promise<unknown>, limit: number) => {
    const err = await p.then(
      () => assert.unreachable("expected UploadTooLargeError"),
      (e: unknown) => e,
    );
    assert.instance(err, UploadTooLargeError);
    assert.is((err as UploadTooLargeError).code, "VALIDATION");
    assert.match((err as Error).message, `maxUploadBytes limit of ${limit} bytes`);
  };
  const dflt = await f.broker.submit(spec());
  assert.is((await f.store.getTask(dflt))?.maxUploadBytes, 100);
  const s = await start(f, dflt, 1);
  const req = (over: Record<string, unknown>) => ({ taskId: dflt, attempt: 1, leaseToken: s.leaseToken, key: "o.bin", ...over });
  await tooBig(f.broker.presign(req({ op: "put", size: 101 })), 100);
  await tooBig(f.broker.presign(req({ op: "multipart", size: 101, partSize: 5 * 1024 * 1024 })), 100);
  assert.is((await f.broker.presign(req({ op: "put", size: 100 }))).size, 100);
  await f.broker.presign(req({ op: "put" })).then(
    () => assert.unreachable("a put without size"),
    (e: Error) => assert.match(e.message, /put needs size/),
  );

  // The stage's own limit wins, both ways.
  const own = await f.broker.submit(spec({ workflowRunId: "run-2", maxUploadBytes: 1000 }));
  assert.is(f.broker.toTaskMessage((await f.store.getTask(own))!).maxUploadBytes, 1000);
  const s2 = await start(f, own, 1);
  const ok = await f.broker.presign({ taskId: own, attempt: 1, leaseToken: s2.leaseToken, op: "put", key: "o.bin", size: 1000 });
  assert.is(ok.size, 1000);

  // A task stored before tasks recorded their limit gets the broker's default.
  const legacy = await f.store.createTask({
    taskId: "legacy",
    workflowRunId: "run-3",
    workflowId: "wf",
    stageId: "heavy",
    queue: "q",
    codeVersion: "v1",
    requiredLabels: {},
    maxAttempts: 3,
    capability: "legacy-capability-secret",
    input: { n: 1 },
    config: {},
    deadline: null,
    traceContext: null,
    now: new Date(),
  });
  assert.is(legacy.maxUploadBytes, null);
  assert.is(f.broker.toTaskMessage(legacy).maxUploadBytes, 100);
  const s3 = await start(f, "legacy", 1);
  await tooBig(f.broker.presign({ taskId: "legacy", attempt: 1, leaseToken: s3.leaseToken, op: "put", key: "o.bin", size: 101 }), 100);
});

test("presign: keys outside the attempt prefix are refused (confused deputy)", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec());
  const s = await start(f, id, 1);
  const req = (op: string, key: string) => ({ taskId: id, attempt: 1, leaseToken: s.leaseToken, op, key, size: 1 });
  const ok = await f.broker.presign(req("put", "out/a.bin"));
  assert.is(ok.key, "runs/run-1/heavy/1/out/a.bin");
  assert.is((await f.broker.presign(req("put", "runs/run-1/heavy/1/b.bin"))).key, "runs/run-1/heavy/1/b.bin");
  assert.is((await f.broker.presign(req("get", "runs/run-1/other-stage/1/x"))).key, "runs/run-1/other-stage/1/x");
  for (const [op, key] of [
    ["put", "../../2/x"],
    ["put", "a/../../../../run-2/x"],
    ["put", "runs/run-2/heavy/1/x"],
    ["put", "runs/run-1/heavy/2/x"],
    ["put", "runs/run-1/other-stage/1/x"],
    ["multipart", "runs/run-1/heavy/x"],
    ["get", "runs/run-2/heavy/1/x"],
    ["get", "/etc/passwd"],
    ["put", "a//b"],
    ["put", "dir/"],
  ]) {
    const r = { ...req(op!, key!), ...(op === "multipart" ? { size: 10 } : {}) };
    await f.broker.presign(r).then(
      () => assert.unreachable(`${op} ${key} should be refused`),
      (err: unknown) => assert.instance(err, PresignRefusedError, `${op} ${key}`),
    );
  }
  assert.ok(
    f.objects.signed.every((s) => s.key.startsWith("runs/run-1/")),
    "nothing outside the run was signed",
  );
});

test("presign from a superseded attempt is refused: it cannot write over its successor", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec());
  const s1 = await start(f, id, 1);
  await start(f, id, 2);
  try {
    await f.broker.presign({ taskId: id, attempt: 1, leaseToken: s1.leaseToken, op: "put", key: "x", size: 1 });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, LeaseNotHeldError);
    assert.match((err as Error).message, /attempt 2/);
  }
});

test("reapExpired: deadline passed fails; last attempt's lost lease fails as exhausted; attempts left are redelivered", async () => {
  const clock = new FakeClock();
  const f = await makeFixture({ clock, leaseMs: 1_000 });
  const late = await f.broker.submit(spec({ stageId: "a", deadline: new Date(clock.now().getTime() + 5_000) }));
  const last = await f.broker.submit(spec({ stageId: "b", maxAttempts: 1 }));
  const retry = await f.broker.submit(spec({ stageId: "c", maxAttempts: 3 }));
  await start(f, last, 1);
  await start(f, retry, 1);
  clock.advance(2_000);
  const r1 = await f.broker.reapExpired();
  assert.equal(
    r1.failed.map((x) => x.taskId),
    [last],
  );
  assert.match(r1.failed[0]!.error, /attempts exhausted: attempt 1, the last of 1 allowed/);
  assert.is(r1.leasesExpired, 1);
  assert.is((await f.broker.getOutcome(retry))!.status, "pending");
  clock.advance(5_000);
  const r2 = await f.broker.reapExpired();
  assert.ok(r2.failed.some((x) => x.taskId === late && /deadline exceeded/.test(x.error)));
});

test("a start beyond maxAttempts started attempts fails the task clearly instead of running it", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec({ maxAttempts: 2 }));
  assert.is((await start(f, id, 1)).attemptsLeft, 1);
  assert.is((await start(f, id, 2)).attemptsLeft, 0);
  const s3 = await start(f, id, 3);
  assert.is(s3.accepted, false);
  assert.match((await f.broker.getOutcome(id))!.error!, /attempts exhausted: 2 of maxAttempts 2 started/);
});

test("deliveries given back unstarted spend no attempt: delivery 4 of a 2-attempt task still runs as its second attempt", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec({ maxAttempts: 2 }));
  assert.is((await start(f, id, 1)).attemptsLeft, 1);
  // Deliveries 2 and 3 never reached the broker (an outage); delivery 4 starts the second execution.
  const s4 = await start(f, id, 4);
  assert.is(s4.accepted, true, JSON.stringify(s4));
  assert.is(s4.attemptsLeft, 0);
  assert.equal(
    (await f.store.getTask(id))!.attempts!.map((a) => a.attempt),
    [1, 4],
  );
  const s5 = await start(f, id, 5);
  assert.is(s5.accepted, false);
  assert.match((await f.broker.getOutcome(id))!.error!, /attempts exhausted: 2 of maxAttempts 2 started/);
});

test("malformed heartbeat, report and presign bodies are typed errors naming the field; the broker keeps working", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec());
  const s = await start(f, id, 1);
  const cases: [() => Promise<unknown>, RegExp][] = [
    [() => f.broker.handleHeartbeat({ taskId: id, attempt: 0, leaseToken: "x", workerId: "w" }), /attempt/],
    [() => f.broker.report("{not json"), /not JSON/],
    [() => f.broker.report({ ...report(id, 1, s.leaseToken), outcome: "exploded" }), /outcome/],
    [() => f.broker.report({ ...report(id, 1, s.leaseToken), output: undefined }), /output/],
    [() => f.broker.report({ ...report(id, 1, s.leaseToken), outcome: "failed", output: undefined }), /error/],
    [() => f.broker.presign({ taskId: id, attempt: 1, leaseToken: s.leaseToken, op: "multipart", key: "x" }), /size/],
    [() => f.broker.presign(new TextEncoder().encode(JSON.stringify({ taskId: id }))), /attempt/],
  ];
  for (const [call, field] of cases) {
    try {
      await call();
      assert.unreachable();
    } catch (err) {
      assert.instance(err, ProtocolError);
      assert.match((err as Error).message, field);
    }
  }
  assert.ok((await f.broker.report(report(id, 1, s.leaseToken))).accepted);
});

test("an outputRef outside the attempt's prefix fails the task; a proper one is read back", async () => {
  const f = await makeFixture();
  const bad = await f.broker.submit(spec({ stageId: "a" }));
  const good = await f.broker.submit(spec({ stageId: "b" }));
  const s1 = await start(f, bad, 1);
  const s2 = await start(f, good, 1);
  await f.broker.report(report(bad, 1, s1.leaseToken, { output: undefined, outputRef: { key: "runs/run-9/a/1/_output.json", size: 2 } }));
  assert.match((await f.broker.getOutcome(bad))!.error!, /outside the attempt's prefix/);
  await f.blobs.put("runs/run-1/b/1/_output.json", new TextEncoder().encode(JSON.stringify({ r: 42 })));
  await f.broker.report(report(good, 1, s2.leaseToken, { output: undefined, outputRef: { key: "runs/run-1/b/1/_output.json", size: 8 } }));
  assert.equal((await f.broker.getOutcome(good))!.output, { r: 42 });
});

test("waitForOutcome is woken by the report, not by its timeout", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec());
  const s = await start(f, id, 1);
  const t0 = Date.now();
  const waiting = f.broker.waitForOutcome(id, { timeoutMs: 30_000 });
  await f.broker.report(report(id, 1, s.leaseToken));
  const o = await waiting;
  assert.is(o!.status, "completed");
  assert.ok(Date.now() - t0 < 5_000);
  const ac = new AbortController();
  const other = await f.broker.submit(spec({ stageId: "z" }));
  const w2 = f.broker.waitForOutcome(other, { timeoutMs: 30_000, signal: ac.signal });
  ac.abort(new Error("gave up"));
  await w2.then(
    () => assert.unreachable(),
    (err: Error) => assert.is(err.message, "gave up"),
  );
});

test("a start without the task message's capability, or through another queue, is refused as for an unknown task and changes nothing", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec({ queue: "a" }));
  const cap = (await f.store.getTask(id))!.capability!;
  assert.ok(cap.length >= 32, "a 192-bit secret");
  const body = { start: true, taskId: id, attempt: 1, workerId: "w-x", codeVersion: "v9" };
  for (const [what, call] of [
    ["no capability", () => f.broker.handleHeartbeat(body, { queue: "a" })],
    // The last character changed (a fixed "x" matched one capability in 64, whose last character is "x").
    [
      "a wrong capability",
      () => f.broker.handleHeartbeat({ ...body, capability: `${cap.slice(0, -1)}${cap.endsWith("x") ? "y" : "x"}` }, { queue: "a" }),
    ],
    ["another queue's subject", () => f.broker.handleHeartbeat({ ...body, capability: cap }, { queue: "b" })],
  ] as const) {
    const r = await call();
    assert.equal(r, { accepted: false, cancelled: false, reason: "unknown_task" }, what);
  }
  const t = await f.store.getTask(id);
  assert.is(t!.status, "PENDING", "a code-version mismatch fails a task only for the holder of its delivery");
  assert.is(t!.attempt, 0);
});

test("the broker issues the lease token; a token the worker sends with its start is ignored", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec());
  const cap = (await f.store.getTask(id))!.capability!;
  const r = await f.broker.handleHeartbeat({
    start: true,
    taskId: id,
    attempt: 1,
    workerId: "w1",
    codeVersion: "v1",
    capability: cap,
    leaseToken: "chosen-by-worker",
  });
  assert.ok(r.accepted && r.leaseToken && r.leaseToken !== "chosen-by-worker");
  assert.is((await f.store.getTask(id))!.leaseToken, r.leaseToken);
  const forged = await f.broker.report(report(id, 1, "chosen-by-worker"));
  assert.is(forged.reason, "stale_attempt");
});

test("a newer attempt cannot take a live lease; it is told when to retry, and starts once the holder released or went silent", async () => {
  const clock = new FakeClock();
  const f = await makeFixture({ clock, leaseMs: 10_000 });
  const id = await f.broker.submit(spec({ maxAttempts: 10 }));
  const cap = (await f.store.getTask(id))!.capability!;
  const begin = (attempt: number) =>
    f.broker.handleHeartbeat({ start: true, taskId: id, attempt, workerId: `w${attempt}`, codeVersion: "v1", capability: cap });
  const s1 = await begin(1);
  assert.ok(s1.accepted);
  clock.advance(5_000);
  const steal = await begin(2);
  assert.is(steal.accepted, false);
  assert.is(steal.retryAfterMs, 5_000);
  assert.match(steal.reason!, /lease_live: attempt 1/);
  await f.broker.handleHeartbeat({ taskId: id, attempt: 1, leaseToken: s1.leaseToken, workerId: "w1" }); // the holder beats: 10 s more
  clock.advance(7_000);
  assert.is((await begin(3)).accepted, false, "still live after the beat");
  clock.advance(2_600); // within the takeover grace (2.5 s) of the end: JetStream would have redelivered by now
  // The redelivery carries the capability attempt 1 spent: the task goes out as a new message instead.
  const old = await begin(4);
  assert.is(old.accepted, false);
  assert.match(old.reason!, /^superseded/);
  assert.is(f.transport.size(), 2, "a new message for the next attempt");
  const fresh = (await f.store.getTask(id))!.capability!;
  assert.is.not(fresh, cap);
  const beginFresh = (attempt: number) =>
    f.broker.handleHeartbeat({ start: true, taskId: id, attempt, workerId: `w${attempt}`, codeVersion: "v1", capability: fresh });
  const s2 = await beginFresh(2);
  assert.ok(s2.accepted, s2.reason);
  assert.is((await begin(3)).accepted, false, "the old message never opens another attempt");
  await f.broker.handleHeartbeat({ taskId: id, attempt: 2, leaseToken: s2.leaseToken, workerId: "w2", release: true });
  assert.ok((await beginFresh(3)).accepted, "a released lease is taken at once by its message's redelivery");
});

test("a capability opens one attempt: after its lease ended, only the re-published message's delivery starts the next", async () => {
  const clock = new FakeClock();
  const f = await makeFixture({ clock, leaseMs: 10_000 });
  const id = await f.broker.submit(spec({ maxAttempts: 5 }));
  const cap = (await f.store.getTask(id))!.capability!;
  const begin = (attempt: number, capability: string, workerId = "w") =>
    f.broker.handleHeartbeat({ start: true, taskId: id, attempt, workerId, codeVersion: "v1", capability });
  assert.ok((await begin(1, cap, "holder")).accepted);
  clock.advance(20_000); // the holder went silent
  // The worker that was delivered attempt 1 (or any earlier recipient) claims attempt 2 on its own word.
  for (const attempt of [2, 3, 9]) {
    const r = await begin(attempt, cap, "earlier-recipient");
    assert.is(r.accepted, false, `attempt ${attempt}`);
  }
  const t = (await f.store.getTask(id))!;
  assert.equal([t.status, t.attempt, t.workerId], ["LEASED", 1, "holder"], "no attempt started on the old capability");
  assert.is.not(t.capability, cap, "the task was given a new capability");
  assert.is(t.capabilitySpentBy, null);
  const s = await begin(2, t.capability!, "next");
  assert.ok(s.accepted, s.reason);
  assert.is((await f.store.getTask(id))!.attempt, 2);
});

test("a peer holding a redelivery (and so the capability) cannot fail a task whose lease is live: not by version, not past maxAttempts, not as a stale attempt", async () => {
  const clock = new FakeClock();
  const f = await makeFixture({ clock, leaseMs: 10_000 });
  const id = await f.broker.submit(spec({ maxAttempts: 3 }));
  const cap = (await f.store.getTask(id))!.capability!;
  const begin = (attempt: number, codeVersion = "v1") =>
    f.broker.handleHeartbeat({ start: true, taskId: id, attempt, workerId: "peer", codeVersion, capability: cap });
  assert.ok((await begin(1)).accepted);
  clock.advance(1_000);
  for (const [what, r] of [
    ["another version, newer attempt", await begin(2, "bogus")],
    ["past maxAttempts", await begin(9)],
    ["another version, same attempt", await begin(1, "bogus")],
  ] as const) {
    assert.is(r.accepted, false, what);
    assert.match(r.reason!, /^(lease_live|stale_attempt)/, `${what}: ${r.reason}`);
  }
  const t = (await f.store.getTask(id))!;
  assert.equal([t.status, t.attempt, t.workerId], ["LEASED", 1, "peer"], "the holder's task is untouched");
  clock.advance(12_000); // the lease lapsed: the old message is superseded; the new one, delivered to other code, fails the task
  assert.match((await begin(2, "bogus")).reason!, /^superseded/);
  const fresh = (await f.store.getTask(id))!.capability!;
  const r = await f.broker.handleHeartbeat({
    start: true,
    taskId: id,
    attempt: 2,
    workerId: "peer",
    codeVersion: "bogus",
    capability: fresh,
  });
  assert.match(r.reason!, /code version mismatch/);
  assert.is((await f.store.getTask(id))!.status, "FAILED");
});

test("presigns and reports through another queue's subject are refused", async () => {
  const f = await makeFixture();
  const id = await f.broker.submit(spec({ queue: "a" }));
  const s = await start(f, id, 1);
  await f.broker.presign({ taskId: id, attempt: 1, leaseToken: s.leaseToken, op: "put", key: "x", size: 1 }, { queue: "b" }).then(
    () => assert.unreachable("presign via queue b"),
    (err: Error) => assert.match(err.message, /does not exist|unknown|not found/i),
  );
  assert.equal(await f.broker.report(report(id, 1, s.leaseToken), null, { queue: "b" }), {
    accepted: false,
    reason: "unknown_task",
    taskId: id,
  });
  assert.ok((await f.broker.report(report(id, 1, s.leaseToken), null, { queue: "a" })).accepted);
});

test.run();

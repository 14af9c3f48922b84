/**
 * Forbidden operations on subjects the credential MAY use (its queue's broker and report subjects),
 * which the broker must refuse: starting, failing or taking over tasks it was not delivered,
 * forged outcomes, report dedupe collisions, presigning without a lease or outside its prefix,
 * and uploads larger than the size signed into the URL.
 */
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { jetstream } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { TaskMessage, reportMsgId } from "../../src/contract/tasks.js";
import { brokerSubject, taskConsumerName } from "../../adapters/jetstream/remote/names.js";
import { MAX_UPLOAD } from "./fixtures/workflows.js";
import { type AttackContext, type ForbiddenOperation, WentThrough, brokerRefuses, leavesTask, reportsSettled } from "./refusals.js";

const GUESS = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; // a lease token or capability the attacker made up

const heartbeatSubject = (c: AttackContext) => brokerSubject(c.env.topology, c.queue, "heartbeat");
const presignSubject = (c: AttackContext) => brokerSubject(c.env.topology, c.queue, "presign");
const start = (c: AttackContext, taskId: string, attempt: number, extra: Record<string, unknown> = {}) => ({
  start: true,
  taskId,
  attempt,
  workerId: c.me,
  codeVersion: "v1",
  ...extra,
});

/** A start/heartbeat the broker must refuse without touching `taskId`. */
const beat = (
  kind: string,
  name: string,
  taskId: (c: AttackContext) => string,
  body: (c: AttackContext) => unknown,
): ForbiddenOperation => ({
  kind,
  name,
  run: (c) => leavesTask(c, taskId(c), () => brokerRefuses(c.atk, heartbeatSubject(c), body(c))),
});

/** A presign the broker must refuse. */
const presign = (kind: string, name: string, body: (c: AttackContext) => Record<string, unknown>): ForbiddenOperation => ({
  kind,
  name,
  run: (c) => brokerRefuses(c.atk, presignSubject(c), body(c)),
});
const ownPresign = (c: AttackContext, op: string, key: string, extra: Record<string, unknown> = {}) => ({
  taskId: c.own.taskId,
  attempt: c.own.attempt,
  leaseToken: c.own.leaseToken,
  op,
  key,
  ...extra,
});

/**
 * A report published on the attacker's own report subject (the server stores it: that subject is
 * its to use) that the broker must refuse: once the report consumer has handled it, `taskId` is unchanged.
 */
const report = (
  kind: string,
  name: string,
  taskId: (c: AttackContext) => string,
  body: (c: AttackContext) => Record<string, unknown>,
  msgId: (c: AttackContext) => string,
): ForbiddenOperation => ({
  kind,
  name,
  run: (c) =>
    leavesTask(c, taskId(c), async () => {
      const msg = {
        v: 1,
        taskId: taskId(c),
        attempt: 1,
        leaseToken: GUESS,
        workerId: c.me,
        codeVersion: "v1",
        outcome: "completed",
        output: { r: -1, by: "attacker" },
        logs: [],
        reportedAt: new Date().toISOString(),
        ...body(c),
      };
      const ack = await jetstream(c.atk).publish(c.env.topology.reportSubject(c.queue), JSON.stringify(msg), {
        msgID: msgId(c),
        timeout: 5_000,
      });
      if (ack.duplicate) throw new Error(`suite error: message id ${msgId(c)} was used twice`);
      c.counts.reports++;
      await reportsSettled(c);
      return "stored on its own report subject, refused by the broker (task unchanged)";
    }),
});

/** A PUT of `body` on a URL presigned for `declared` bytes, which the object store must refuse, storing nothing. */
const upload = (name: string, declared: number, body: () => Uint8Array | ReadableStream, chunked = false): ForbiddenOperation => ({
  kind: "oversized uploads",
  name,
  async run(c) {
    const key = `upload-${name.replace(/[^a-z0-9]+/gi, "-")}.bin`;
    const m = await c.atk.request(presignSubject(c), JSON.stringify(ownPresign(c, "put", key, { size: declared })), { timeout: 10_000 });
    const reply = m.json<{ url?: string; key: string; headers?: Record<string, string> }>();
    if (!reply.url) throw new Error(`suite error: no presigned URL for a legitimate ${declared}-byte put: ${JSON.stringify(reply)}`);
    const headers = Object.fromEntries(Object.entries(reply.headers ?? {}).filter(([h]) => h.toLowerCase() !== "content-length"));
    const res = await fetch(reply.url, {
      method: "PUT",
      headers,
      body: body() as never,
      ...(chunked ? { duplex: "half" } : {}),
    } as RequestInit);
    await res.arrayBuffer();
    const stored = await c.env.s3.send(new HeadObjectCommand({ Bucket: c.env.bucket, Key: reply.key })).then(
      () => true,
      () => false,
    );
    if (res.ok || stored) throw new WentThrough(`PUT answered ${res.status}, object stored: ${stored}`);
    return `object store refused: HTTP ${res.status}, nothing stored`;
  },
});

/**
 * A peer of the same queue may ack, nak or term ANY delivery of its consumer (NATS grants acks per
 * consumer, and the server checks only the stream sequence of an ack subject): it naks the peer's
 * delivery by its guessed sequence, pulls the redelivery and so holds the task's capability. The
 * broker must still refuse `body` while the peer's lease is live, before failing anything.
 */
const viaRedelivery = (
  name: string,
  body: (c: AttackContext, task: TaskMessage, attempt: number) => Record<string, unknown>,
): ForbiddenOperation => ({
  kind: "stealing a live lease (attempt+1)",
  name,
  run: (c) =>
    leavesTask(c, c.victims.peer, async () => {
      const consumer = taskConsumerName(c.queue, "v1");
      c.atk.publish(`$JS.ACK.${c.env.topology.streams.tasks}.${consumer}.1.${c.victims.peerSeq}.1.1700000000000000000.0`, "-NAK");
      const next = `$JS.API.CONSUMER.MSG.NEXT.${c.env.topology.streams.tasks}.${consumer}`;
      const m = await c.atk.request(next, JSON.stringify({ batch: 1, expires: nanos(5_000) }), { timeout: 10_000, noMux: true });
      if (!m.reply?.startsWith("$JS.ACK."))
        throw new Error(`suite error: the nak'ed delivery did not come back (status ${m.headers?.code})`);
      const task = TaskMessage.parse(m.json());
      if (task.taskId !== c.victims.peer) throw new Error(`suite error: redelivered ${task.taskId}, not the peer's task`);
      return brokerRefuses(c.atk, heartbeatSubject(c), body(c, task, Number(m.reply.split(".")[4])));
    }),
});

export const brokerOperations: ForbiddenOperation[] = [
  viaRedelivery("fail the peer's live task by version mismatch, holding its redelivery", (c, t, n) =>
    start(c, t.taskId, n, { capability: t.capability, codeVersion: "bogus" }),
  ),
  viaRedelivery("fail the peer's live task as attempts exhausted, holding its redelivery", (c, t) =>
    start(c, t.taskId, t.maxAttempts + 1, { capability: t.capability }),
  ),
  viaRedelivery("take the peer's live lease, holding its redelivery", (c, t, n) => start(c, t.taskId, n, { capability: t.capability })),
  // Cross-queue start and takeover, forged failure.
  beat(
    "cross-queue start/takeover",
    "start queue b's task through its own queue's subject",
    (c) => c.victims.b,
    (c) => start(c, c.victims.b, 1),
  ),
  beat(
    "cross-queue start/takeover",
    "start queue b's task with a made-up capability",
    (c) => c.victims.b,
    (c) => start(c, c.victims.b, 1, { capability: GUESS }),
  ),
  beat(
    "cross-queue start/takeover",
    "start queue b's task with its own task's capability",
    (c) => c.victims.b,
    (c) => start(c, c.victims.b, 1, { capability: c.own.capability }),
  ),
  beat(
    "forged outcomes",
    "fail queue b's task by claiming another code version",
    (c) => c.victims.b,
    (c) => start(c, c.victims.b, 1, { codeVersion: "bogus" }),
  ),
  beat(
    "cross-queue start/takeover",
    "start its own queue's v2 task it was never delivered",
    (c) => c.victims.v2,
    (c) => start(c, c.victims.v2, 1, { codeVersion: "v2" }),
  ),
  beat(
    "forged outcomes",
    "fail the v2 task by version mismatch",
    (c) => c.victims.v2,
    (c) => start(c, c.victims.v2, 1),
  ),
  beat(
    "stealing a live lease (attempt+1)",
    "take the peer's task with attempt 2",
    (c) => c.victims.peer,
    (c) => start(c, c.victims.peer, 2),
  ),
  beat(
    "stealing a live lease (attempt+1)",
    "take the peer's task with attempt 2 and a made-up capability",
    (c) => c.victims.peer,
    (c) => start(c, c.victims.peer, 2, { capability: GUESS }),
  ),
  beat(
    "stealing a live lease (attempt+1)",
    "take the peer's task with attempt 9",
    (c) => c.victims.peer,
    (c) => start(c, c.victims.peer, 9),
  ),
  beat(
    "forged outcomes",
    "fail the peer's task by version mismatch",
    (c) => c.victims.peer,
    (c) => start(c, c.victims.peer, 2, { codeVersion: "bogus" }),
  ),
  beat(
    "stealing a live lease (attempt+1)",
    "start attempt 2 of its OWN task while its lease is live (no redelivery happened)",
    (c) => c.own.taskId,
    (c) => start(c, c.own.taskId, c.own.attempt + 1, { capability: c.own.capability }),
  ),
  beat(
    "stealing a live lease (attempt+1)",
    "heartbeat the peer's lease with a made-up token",
    (c) => c.victims.peer,
    (c) => ({ taskId: c.victims.peer, attempt: 1, leaseToken: GUESS, workerId: c.me }),
  ),
  beat(
    "stealing a live lease (attempt+1)",
    "release the peer's lease with a made-up token",
    (c) => c.victims.peer,
    (c) => ({ taskId: c.victims.peer, attempt: 1, leaseToken: GUESS, workerId: c.me, release: true }),
  ),
  beat(
    "forged outcomes",
    "overwrite the peer's progress details",
    (c) => c.victims.peer,
    (c) => ({ taskId: c.victims.peer, attempt: 1, leaseToken: GUESS, workerId: c.me, details: { forged: true } }),
  ),
  beat(
    "forged outcomes",
    "heartbeat queue b's task with its own lease token",
    (c) => c.victims.b,
    (c) => ({ taskId: c.victims.b, attempt: 1, leaseToken: c.own.leaseToken, workerId: c.me }),
  ),
  // Forged outcomes by report.
  report(
    "forged outcomes",
    "report queue b's task completed",
    (c) => c.victims.b,
    () => ({}),
    (c) => `forge-b-${c.victims.b}`,
  ),
  report(
    "forged outcomes",
    "report queue b's task completed with its own lease token",
    (c) => c.victims.b,
    (c) => ({ leaseToken: c.own.leaseToken }),
    (c) => `forge-b2-${c.victims.b}`,
  ),
  report(
    "forged outcomes",
    "report the peer's task completed",
    (c) => c.victims.peer,
    () => ({}),
    (c) => `forge-peer-${c.victims.peer}`,
  ),
  report(
    "forged outcomes",
    "report the peer's task failed",
    (c) => c.victims.peer,
    () => ({ outcome: "failed", error: "forged" }),
    (c) => `forge-peer-f-${c.victims.peer}`,
  ),
  report(
    "forged outcomes",
    "report the v2 task completed",
    (c) => c.victims.v2,
    () => ({ codeVersion: "v2" }),
    (c) => `forge-v2-${c.victims.v2}`,
  ),
  report(
    "forged outcomes",
    "report the peer's task with an output reference into its own prefix",
    (c) => c.victims.peer,
    (c) => ({ output: undefined, outputRef: { key: `runs/${c.own.runId}/work/1/x`, size: 1 } }),
    (c) => `forge-ref-${c.victims.peer}`,
  ),
  // Report dedupe: the attacker publishes first under ids the genuine report might carry.
  report(
    "report dedupe collision",
    "pre-empt the peer's report id <taskId>:<attempt>",
    (c) => c.victims.peer,
    () => ({}),
    (c) => `${c.victims.peer}:1`,
  ),
  report(
    "report dedupe collision",
    "pre-empt the peer's report id with a guessed token hash",
    (c) => c.victims.peer,
    () => ({}),
    (c) => reportMsgId(c.victims.peer, 1, GUESS),
  ),
  report(
    "report dedupe collision",
    "pre-empt queue b's report id <taskId>:<attempt>",
    (c) => c.victims.b,
    () => ({}),
    (c) => `${c.victims.b}:1`,
  ),
  report(
    "report dedupe collision",
    "pre-empt the peer's next-attempt report id",
    (c) => c.victims.peer,
    () => ({ attempt: 2 }),
    (c) => reportMsgId(c.victims.peer, 2, ""),
  ),
  // Presign without a lease or outside the prefix.
  presign("presign without a lease", "presign for the peer's task with a made-up token", (c) => ({
    taskId: c.victims.peer,
    attempt: 1,
    leaseToken: GUESS,
    op: "put",
    key: "x.bin",
    size: 1,
  })),
  presign("presign without a lease", "presign for queue b's task with its own lease token", (c) => ({
    taskId: c.victims.b,
    attempt: 1,
    leaseToken: c.own.leaseToken,
    op: "get",
    key: "x.bin",
  })),
  presign("presign without a lease", "presign for the v2 task", (c) => ({
    taskId: c.victims.v2,
    attempt: 1,
    leaseToken: GUESS,
    op: "list",
    key: "",
  })),
  presign("presign without a lease", "presign for its own task as a later attempt", (c) => ({
    ...ownPresign(c, "put", "x.bin", { size: 1 }),
    attempt: c.own.attempt + 1,
  })),
  presign("presign outside the prefix", "put into queue b's run", (c) =>
    ownPresign(c, "put", `runs/${c.victims.bRun}/work/1/steal.bin`, { size: 1 }),
  ),
  presign("presign outside the prefix", "put into another attempt of its own task", (c) =>
    ownPresign(c, "put", `runs/${c.own.runId}/work/9/x.bin`, { size: 1 }),
  ),
  presign("presign outside the prefix", "escape with ..", (c) => ownPresign(c, "put", "../../../x/work/1/x.bin", { size: 1 })),
  presign("presign outside the prefix", "read the peer's run", (c) => ownPresign(c, "get", `runs/${c.victims.peerRun}/work/1/out.bin`)),
  presign("presign outside the prefix", "list queue b's run", (c) => ownPresign(c, "list", `runs/${c.victims.bRun}/`)),
  presign("presign outside the prefix", "absolute key", (c) => ownPresign(c, "put", "/etc/x", { size: 1 })),
  presign("oversized uploads", "put without a declared size", (c) => ownPresign(c, "put", "nosize.bin")),
  presign("oversized uploads", "put declared over the stage's limit", (c) => ownPresign(c, "put", "big.bin", { size: MAX_UPLOAD + 1 })),
  presign("oversized uploads", "multipart declared over the limit", (c) =>
    ownPresign(c, "multipart", "big.bin", { size: 64 * 1024 * 1024, partSize: 5 * 1024 * 1024 }),
  ),
  upload("PUT 1 MiB on a URL signed for 1000 bytes", 1000, () => new Uint8Array(1024 * 1024)),
  upload("PUT 1001 bytes on a URL signed for 1000", 1000, () => new Uint8Array(1001)),
  upload("chunked PUT (no Content-Length) on a URL signed for 1000 bytes", 1000, () => new Blob([new Uint8Array(4096)]).stream(), true),
];

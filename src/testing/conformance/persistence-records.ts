import { randomUUID } from "node:crypto";
import { deepStrictEqual as eq, equal } from "node:assert/strict";
import type { NewAnnotation, NewLog, NewOutboxRow } from "../../ports/persistence.js";
import type { OutboxRecord } from "../../ports/records.js";
import { type ConformanceCase, T0, at, defineCases } from "./case.js";
import { type PersistenceUnderTest, RICH_JSON, newRun, sortedIds } from "./persistence-fixtures.js";

const outboxRow = (workflowRunId: string, createdAt: Date, claimedUntil: Date | null, type = "workflow:started"): NewOutboxRow => ({
  id: randomUUID(),
  kind: "event",
  workflowRunId,
  type,
  payload: { type, n: 1 },
  createdAt,
  claimedUntil,
});

/** Logs, artifacts, outbox, idempotency keys, annotations and AI calls of the Persistence port. */
export function persistenceRecordCases(factory: () => Promise<PersistenceUnderTest>): ConformanceCase[] {
  return defineCases("persistence", factory, {
    "logs list in createdAt order with exact fields, by stage, with a limit": async ({ persistence: p }) => {
      const run = newRun();
      await p.createRun(run);
      const log = (stageId: string | null, ms: number, meta: Record<string, unknown> | null): NewLog => ({
        id: randomUUID(),
        workflowRunId: run.id,
        stageId,
        level: "INFO",
        message: `m${ms} ✓`,
        meta,
        createdAt: at(ms),
      });
      const l3 = log("s1", 30, null);
      const l1 = log(null, 10, RICH_JSON);
      const l2 = { ...log("s1", 20, { k: 1 }), level: "ERROR" as const };
      await p.appendLogs([l3, l1]);
      await p.appendLogs([l2]);
      await p.appendLogs([]);
      eq(await p.listLogs(run.id), [l1, l2, l3]);
      eq(await p.listLogs(run.id, { stageId: "s1" }), [l2, l3]);
      eq(await p.listLogs(run.id, { limit: 2 }), [l1, l2]);
      eq(await p.listLogs(newRun().id), []);
    },

    "artifacts list by prefix sorted by key; re-recording replaces; delete by prefix counts": async ({ persistence: p }) => {
      const run = newRun();
      const other = newRun();
      await p.createRun(run);
      await p.createRun(other);
      const art = (workflowRunId: string, key: string, size = 1) => ({
        workflowRunId,
        stageId: "s",
        key,
        size,
        contentType: "application/json",
        createdAt: T0,
      });
      const base = `runs/${run.id}`;
      await p.recordArtifact(art(run.id, `${base}/s/b.json`));
      await p.recordArtifact(art(run.id, `${base}/s/a.json`));
      await p.recordArtifact({ ...art(run.id, `${base}/t/c.bin`), stageId: null, contentType: null });
      await p.recordArtifact(art(other.id, `runs/${other.id}/s/a.json`));
      await p.recordArtifact(art(run.id, `${base}/s/a.json`, 99));
      eq(await p.listArtifacts(run.id, { keyPrefix: `${base}/s/` }), [
        art(run.id, `${base}/s/a.json`, 99),
        art(run.id, `${base}/s/b.json`),
      ]);
      eq(
        (await p.listArtifacts(run.id)).map((a) => a.key),
        [`${base}/s/a.json`, `${base}/s/b.json`, `${base}/t/c.bin`],
      );
      equal((await p.listArtifacts(run.id))[2]?.contentType, null);
      equal(await p.deleteArtifacts(run.id, `${base}/s/`), 2);
      eq(
        (await p.listArtifacts(run.id)).map((a) => a.key),
        [`${base}/t/c.bin`],
      );
      equal((await p.listArtifacts(other.id)).length, 1, "other runs keep theirs");
    },

    "outbox: pre-claimed rows wait for their claim; free rows are claimed at once, oldest first": async ({ persistence: p }) => {
      const run = newRun();
      await p.createRun(run);
      const preClaimed = outboxRow(run.id, at(0), at(1000));
      const free2 = outboxRow(run.id, at(20), null, "workflow:completed");
      const free1 = outboxRow(run.id, at(10), null);
      await p.appendOutbox([preClaimed, free2, free1]);
      const claimed = await p.claimOutbox({ now: at(100), limit: 10, leaseMs: 5000 });
      const expected = (r: NewOutboxRow, claimedUntil: Date): OutboxRecord => ({
        ...r,
        publishedAt: null,
        claimedUntil,
        attempts: 0,
        lastError: null,
        deadLetteredAt: null,
      });
      eq(claimed, [expected(free1, at(5100)), expected(free2, at(5100))]);
      eq(await p.claimOutbox({ now: at(100), limit: 10, leaseMs: 5000 }), [], "claimed rows are skipped");
      eq(
        (await p.claimOutbox({ now: at(1000), limit: 10, leaseMs: 5000 })).map((r) => r.id),
        [preClaimed.id],
        "an expired claim frees the row",
      );
      eq(
        (await p.claimOutbox({ now: at(5100), limit: 1, leaseMs: 5000 })).map((r) => r.id),
        [free1.id],
        "limit is honoured",
      );
    },

    "outbox: claim by ids takes the writer's own pre-claimed rows; published rows are never claimed": async ({ persistence: p }) => {
      const run = newRun();
      await p.createRun(run);
      const a = outboxRow(run.id, at(0), at(60_000));
      const b = outboxRow(run.id, at(1), at(60_000));
      await p.appendOutbox([a, b]);
      eq(
        (await p.claimOutbox({ now: at(10), limit: 10, leaseMs: 30_000, ids: [a.id] })).map((r) => r.id),
        [a.id],
      );
      await p.markOutboxPublished([a.id], at(20));
      eq(await p.claimOutbox({ now: at(10), limit: 10, leaseMs: 30_000, ids: [a.id] }), []);
      eq(
        (await p.claimOutbox({ now: at(120_000), limit: 10, leaseMs: 1000 })).map((r) => r.id),
        [b.id],
      );
    },

    "outbox: failures count attempts and free the row; a dead letter waits until requeued": async ({ persistence: p }) => {
      const run = newRun();
      await p.createRun(run);
      const r = outboxRow(run.id, at(0), null);
      await p.appendOutbox([r]);
      await p.claimOutbox({ now: at(1), limit: 10, leaseMs: 60_000 });
      await p.markOutboxFailed(r.id, "sink down", at(2), false);
      const retry = await p.claimOutbox({ now: at(3), limit: 10, leaseMs: 60_000 });
      eq(
        retry.map((x) => [x.id, x.attempts, x.lastError, x.deadLetteredAt]),
        [[r.id, 1, "sink down", null]],
      );
      await p.markOutboxFailed(r.id, "still down", at(4), true);
      eq(await p.claimOutbox({ now: at(10_000_000), limit: 10, leaseMs: 1000 }), [], "dead letters are not delivered");
      const dead = await p.listDeadLetters(10);
      eq(
        dead.map((x) => [x.id, x.attempts, x.lastError, x.deadLetteredAt, x.publishedAt]),
        [[r.id, 2, "still down", at(4), null]],
      );
      equal(await p.requeueDeadLetters([r.id, randomUUID()], at(5)), 1);
      eq(await p.listDeadLetters(10), []);
      const again = await p.claimOutbox({ now: at(6), limit: 10, leaseMs: 1000 });
      eq(
        again.map((x) => [x.id, x.attempts, x.deadLetteredAt]),
        [[r.id, 0, null]],
      );
      equal(await p.requeueDeadLetters([r.id], at(7)), 0, "a row that is not dead-lettered is not requeued");
    },

    "outbox: concurrent claimers never get the same row": async ({ persistence: p }) => {
      const run = newRun();
      await p.createRun(run);
      const rows = Array.from({ length: 30 }, (_, i) => outboxRow(run.id, at(i), null));
      await p.appendOutbox(rows);
      const claimer = async () => {
        const mine: OutboxRecord[] = [];
        for (;;) {
          const got = await p.claimOutbox({ now: at(1000), limit: 4, leaseMs: 60_000 });
          if (got.length === 0) return mine;
          mine.push(...got);
        }
      };
      const all = (await Promise.all(Array.from({ length: 5 }, claimer))).flat();
      equal(all.length, 30);
      eq(sortedIds(all), sortedIds(rows));
    },

    "idempotency: acquired, then in_progress, then completed with the result; release frees a key": async ({ persistence: p }) => {
      eq(await p.acquireIdempotencyKey("run.create", "k", at(0)), { kind: "acquired" });
      eq(await p.acquireIdempotencyKey("run.create", "k", at(1)), { kind: "in_progress" });
      eq(await p.acquireIdempotencyKey("run.cancel", "k", at(1)), { kind: "acquired" }, "keys are per command");
      await p.completeIdempotencyKey("run.create", "k", { runId: "r1", list: [1, null] }, at(2));
      eq(await p.acquireIdempotencyKey("run.create", "k", at(3)), { kind: "completed", result: { runId: "r1", list: [1, null] } });
      await p.releaseIdempotencyKey("run.cancel", "k");
      eq(await p.acquireIdempotencyKey("run.cancel", "k", at(4)), { kind: "acquired" });
      const racers = await Promise.all(Array.from({ length: 8 }, () => p.acquireIdempotencyKey("run.create", "race", at(5))));
      equal(racers.filter((r) => r.kind === "acquired").length, 1, "exactly one concurrent acquirer wins");
    },

    "idempotency: an IN_PROGRESS key older than staleBefore is taken over once; a fresh or completed one is not": async ({
      persistence: p,
    }) => {
      eq(await p.acquireIdempotencyKey("run.create", "crashed", at(0)), { kind: "acquired" });
      eq(
        await p.acquireIdempotencyKey("run.create", "crashed", at(10), { staleBefore: at(0) }),
        { kind: "in_progress" },
        "not older than staleBefore",
      );
      const racers = await Promise.all(
        Array.from({ length: 6 }, () => p.acquireIdempotencyKey("run.create", "crashed", at(20), { staleBefore: at(5) })),
      );
      equal(racers.filter((r) => r.kind === "acquired").length, 1, "exactly one racer takes an abandoned key over");
      eq(
        await p.acquireIdempotencyKey("run.create", "crashed", at(21), { staleBefore: at(5) }),
        { kind: "in_progress" },
        "the takeover refreshed the key",
      );
      await p.completeIdempotencyKey("run.create", "crashed", { runId: "r9" }, at(22));
      eq(await p.acquireIdempotencyKey("run.create", "crashed", at(99), { staleBefore: at(98) }), {
        kind: "completed",
        result: { runId: "r9" },
      });
    },

    "idempotency: storeIdempotencyResult stores a result once, rolls back with its transaction, one concurrent winner": async ({
      persistence: p,
    }) => {
      eq(await p.storeIdempotencyResult("run.create", "s", { runId: "r1" }, at(0)), { kind: "acquired" });
      eq(await p.storeIdempotencyResult("run.create", "s", { runId: "r2" }, at(1)), { kind: "completed", result: { runId: "r1" } });
      eq(await p.acquireIdempotencyKey("run.create", "s", at(2)), { kind: "completed", result: { runId: "r1" } });
      const boom = new Error("boom");
      await p
        .transaction(async (tx) => {
          eq(await tx.storeIdempotencyResult("run.create", "rolled", { runId: "r3" }, at(3)), { kind: "acquired" });
          throw boom;
        })
        .catch((err: unknown) => {
          if (err !== boom) throw err;
        });
      eq(await p.storeIdempotencyResult("run.create", "rolled", { runId: "r4" }, at(4)), { kind: "acquired" }, "rolled back with its tx");
      eq(await p.acquireIdempotencyKey("run.create", "held", at(5)), { kind: "acquired" });
      eq(await p.storeIdempotencyResult("run.create", "held", { runId: "r5" }, at(6)), { kind: "in_progress" });
      eq(await p.storeIdempotencyResult("run.create", "held", { runId: "r6" }, at(7), { staleBefore: at(6) }), { kind: "acquired" });
      eq(await p.acquireIdempotencyKey("run.create", "held", at(8)), { kind: "completed", result: { runId: "r6" } }, "taken over");
      const racers = await Promise.all(
        Array.from({ length: 8 }, (_, i) => p.transaction((tx) => tx.storeIdempotencyResult("run.create", "race2", { i }, at(9)))),
      );
      equal(racers.filter((r) => r.kind === "acquired").length, 1, "exactly one concurrent transaction stores the key");
      const winner = racers.findIndex((r) => r.kind === "acquired");
      for (const r of racers) if (r.kind !== "acquired") eq(r, { kind: "completed", result: { i: winner } });
    },

    "createRunWithKey writes run, outbox rows and key together once per key; a repeated or racing key writes nothing": async ({
      persistence: p,
    }) => {
      const run = newRun({ input: RICH_JSON, priority: 3, traceContext: { traceparent: "00-abc-def-01" } });
      const row = (id: string): NewOutboxRow => ({
        id,
        kind: "event",
        workflowRunId: run.id,
        type: "workflow:created",
        payload: { nested: RICH_JSON },
        createdAt: at(0),
        claimedUntil: at(50),
      });
      const key = { command: "run.create", key: "once", result: { workflowRunId: run.id, status: "PENDING" } };
      equal(await p.createRunWithKey(run, key, [row("o1"), row("o2")]), true);
      const stored = (await p.getRun(run.id))!;
      eq(
        [stored.input, stored.priority, stored.traceContext, stored.status, stored.currentGroupIndex],
        [RICH_JSON, 3, run.traceContext, "PENDING", -1],
      );
      eq(stored.createdAt, run.now);
      const claimed = await p.claimOutbox({ now: at(1), limit: 10, leaseMs: 1000, ids: ["o1", "o2"] });
      eq(sortedIds(claimed), ["o1", "o2"]);
      eq(claimed[0]!.payload, { nested: RICH_JSON });
      eq(await p.acquireIdempotencyKey("run.create", "once", at(1)), { kind: "completed", result: key.result });
      const other = newRun();
      equal(await p.createRunWithKey(other, key, [{ ...row("o3"), workflowRunId: other.id }]), false);
      equal(await p.getRun(other.id), null, "a repeated key writes no run");
      eq(await p.claimOutbox({ now: at(2), limit: 10, leaseMs: 1000, ids: ["o3"] }), [], "nor outbox rows");
      const racers = Array.from({ length: 6 }, () => newRun());
      const won = await Promise.all(
        racers.map((r) => p.createRunWithKey(r, { ...key, key: "race3", result: { workflowRunId: r.id } }, [])),
      );
      equal(won.filter(Boolean).length, 1, "exactly one racer writes");
      const present = await Promise.all(racers.map((r) => p.getRun(r.id)));
      equal(present.filter(Boolean).length, 1, "exactly one run exists");
      equal(await p.createRunWithKey(newRun(), { ...key, key: "empty-outbox" }, []), true, "no outbox rows is fine");
    },

    "annotations: exact round-trip, filters, idempotency keys de-duplicated per run": async ({ persistence: p }) => {
      const run = newRun();
      const other = newRun();
      await p.createRun(run);
      await p.createRun(other);
      const ann = (o: Partial<NewAnnotation>): NewAnnotation => ({
        id: randomUUID(),
        workflowRunId: run.id,
        stageId: null,
        key: "review.status",
        value: RICH_JSON,
        actor: { kind: "user", id: "alice" },
        idempotencyKey: null,
        createdAt: at(0),
        ...o,
      });
      const a1 = ann({ idempotencyKey: "once" });
      const a2 = ann({ key: "review.score", value: 0.5, stageId: "s1", actor: { kind: "agent", id: "bot" }, createdAt: at(1) });
      const a3 = ann({ key: "cost", value: null, stageId: "s1", createdAt: at(2) });
      equal(await p.insertAnnotations([a1, a2, ann({ idempotencyKey: "once", value: "dup-in-batch" })]), 2);
      equal(await p.insertAnnotations([ann({ idempotencyKey: "once", value: "dup-later" }), a3]), 1);
      equal(await p.insertAnnotations([ann({ workflowRunId: other.id, idempotencyKey: "once" })]), 1, "keys are per run");
      eq(await p.listAnnotations(run.id), [a1, a2, a3]);
      eq(await p.listAnnotations(run.id, { keyPrefix: "review." }), [a1, a2]);
      eq(await p.listAnnotations(run.id, { actorId: "bot" }), [a2]);
      eq(await p.listAnnotations(run.id, { stageId: "s1" }), [a2, a3]);
      eq(await p.listAnnotations(run.id, { stageId: "s1", keyPrefix: "cost" }), [a3]);
    },

    "listRuns filters by creation range, run.create idempotency key and annotation key/value": async ({ persistence: p }) => {
      const runs = [newRun({ now: at(0) }), newRun({ now: at(10) }), newRun({ now: at(20) })];
      for (const r of runs) await p.createRun(r);
      const [r0, r1, r2] = runs.map((r) => r.id);
      eq(
        (await p.listRuns({ createdAfter: at(10) })).map((r) => r.id),
        [r2, r1],
        "createdAfter is inclusive",
      );
      eq(
        (await p.listRuns({ createdAfter: at(5), createdBefore: at(20) })).map((r) => r.id),
        [r1],
      );
      await p.completeIdempotencyKey("run.create", "order-7", { workflowRunId: r1, status: "PENDING", created: true }, at(10));
      await p.completeIdempotencyKey("other.command", "order-8", { workflowRunId: r2 }, at(10));
      eq(
        (await p.listRuns({ idempotencyKey: "order-7" })).map((r) => r.id),
        [r1],
      );
      eq(await p.listRuns({ idempotencyKey: "order-8" }), [], "only run.create keys name runs");
      const ann = (runId: string, key: string, value: unknown): NewAnnotation => ({
        id: randomUUID(),
        workflowRunId: runId,
        stageId: null,
        key,
        value,
        actor: { kind: "user", id: "alice" },
        idempotencyKey: null,
        createdAt: at(30),
      });
      await p.insertAnnotations([ann(r0!, "customer", "acme"), ann(r2!, "customer", "globex"), ann(r2!, "score", { n: 1 })]);
      eq(
        (await p.listRuns({ annotation: { key: "customer" } })).map((r) => r.id),
        [r2, r0],
      );
      eq(
        (await p.listRuns({ annotation: { key: "customer", value: "acme" } })).map((r) => r.id),
        [r0],
      );
      eq(
        (await p.listRuns({ annotation: { key: "score", value: { n: 1 } } })).map((r) => r.id),
        [r2],
      );
      eq(await p.listRuns({ annotation: { key: "customer", value: "nobody" } }), []);
    },
  });
}

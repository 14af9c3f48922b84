/** The assertions of the security acceptance suite, shared by both deployment kinds. */
import * as assert from "uvu/assert";
import type { SecurityEnv } from "./env.js";
import { workerRegistryBucket } from "../../src/contract/fleet.js";
import { jetstreamManager } from "@nats-io/jetstream";
import { taskConsumerName } from "../../adapters/jetstream/remote/names.js";
import { attempt, completeOwnTask, prepare, runOf, until } from "./suite.js";
import { differences, snapshot } from "./snapshot.js";

export async function runAcceptance(env: SecurityEnv): Promise<void> {
  const p = await prepare(env);
  try {
    const { ctx } = p;
    // The baseline is taken once legitimate set-up traffic has settled: a run's kernel job can still
    // be committing its stage (and publishing its event) after the task it dispatched was pulled.
    const jsm0 = await jetstreamManager(env.orch);
    await until(
      async () => {
        const jobs = (await jsm0.streams.info(env.topology.streams.jobs)).state.messages;
        const [busy] = await env.sql.unsafe(
          `select (select count(*) from "${env.schema}".stages where status = 'RUNNING')::int
                + (select count(*) from "${env.schema}".outbox where published_at is null)::int as n`,
        );
        return jobs === 0 && busy!.n === 0 ? true : null;
      },
      20_000,
      "set-up jobs, stage commits and events to settle",
    );
    const before = await snapshot(env);
    const results = await attempt(ctx);
    const refused = results.filter((r) => r.refused).length;
    for (const r of results) console.log(`${r.refused ? "refused" : "WENT THROUGH"} [${r.kind}] ${r.name}: ${r.how.split("\n")[0]}`);
    console.log(`${results.length} forbidden operations tried, ${refused} refused`);
    const through = results.filter((r) => !r.refused);
    assert.equal(
      through.map((r) => `${r.name}: ${r.how}`),
      [],
      "operations that went through",
    );
    assert.ok(results.length >= 60, `at least 60 distinct operations (${results.length})`);
    assert.is(new Set(results.map((r) => r.name)).size, results.length, "operation names are distinct");

    const after = await snapshot(env);
    const { tasks, reports } = env.topology.streams;
    const registryStream = `KV_${workerRegistryBucket(env.topology.prefix)}`;
    const diff = differences(before, after, {
      streamGrowth: { [tasks]: ctx.counts.junkTasks, [reports]: ctx.counts.reports, [registryStream]: ctx.counts.ownRegistryWrites },
      ownRegistryKey: `${ctx.queue}.${ctx.me}`,
    });
    assert.equal(diff, [], "Postgres, streams and registry after the attempts");
    assert.is(after.streams[reports]?.messages, 0, "every report the attacker could store was consumed (and refused)");

    // KNOWN LIMIT (docs/security.md): acks are granted per consumer, so the credential can +TERM a
    // queue peer's delivery by its stream sequence. Contained: the broker's state is untouched and the
    // peer's outcome still counts; what is lost is that delivery's redelivery should the peer die.
    const consumer = taskConsumerName(ctx.queue, "v1");
    const jsm = await jetstreamManager(env.orch);
    const held = () => jsm.streams.getMessage(tasks, { seq: ctx.victims.peerSeq }).catch(() => null);
    assert.ok(await held(), "the peer's task message is in the stream before the term");
    ctx.atk.publish(`$JS.ACK.${tasks}.${consumer}.1.${ctx.victims.peerSeq}.1.1700000000000000000.0`, "+TERM");
    await ctx.atk.flush();
    const gone = await until(async () => ((await held()) === null ? true : null), 5_000, "the peer's task message to be removed");
    assert.ok(gone, "the limit still exists (if this fails, it was fixed: update docs/security.md)");

    // Legitimate work is unaffected: the peer's genuine report is not a duplicate of anything the
    // attacker published, the attacker's own task completes by the protocol, the victims wait untouched.
    p.releasePeer();
    assert.equal((await runOf(env, p.runs.peer, "COMPLETED", 20_000)).output, { r: 2, by: env.peer.workerId });
    await completeOwnTask(ctx);
    assert.equal((await runOf(env, p.runs.own, "COMPLETED", 20_000)).output, { r: 4, by: env.attacker.workerId });
    await runOf(env, p.runs.b, "RUNNING", 1_000);
    const victims = await env.sql.unsafe(`select status, attempt from "${env.schema}".activity_tasks where task_id in ($1, $2)`, [
      ctx.victims.b,
      ctx.victims.v2,
    ]);
    assert.equal(
      victims.map((v) => `${v.status}/${v.attempt}`),
      ["PENDING/0", "PENDING/0"],
      "queue b's and the v2 task were never started",
    );
  } finally {
    await p.close();
  }
}

/**
 * What a hostile worker holding its credential tries, shared by the static-config test
 * (integration/remote/isolation.test.ts) and the `jetflow creds` test (integration/fleet/creds.test.ts).
 * Each helper performs the attack and returns what it observed; the test files assert.
 */
import * as assert from "uvu/assert";
import { headers, nanos, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Topology } from "../../src/contract/topology.js";
import { controlFilter, workerRegistryBucket, workerRegistryKey } from "../../src/contract/fleet.js";
import { createNatsFleetMember } from "../../worker-sdk/nats-fleet.js";
import type { FleetWorkerView } from "../../worker-sdk/fleet-member.js";
import { taskConsumerName } from "../../adapters/jetstream/remote/index.js";

/** Last sequence of every stream of the orchestrator's account except the tasks stream (the tests publish tasks there). */
export async function streamSequences(orch: NatsConnection, topology: Topology): Promise<Record<string, number>> {
  const jsm = await jetstreamManager(orch);
  const out: Record<string, number> = {};
  for await (const s of jsm.streams.list()) if (s.config.name !== topology.streams.tasks) out[s.config.name] = s.state.last_seq;
  return out;
}

/**
 * The reply-subject trick: the orchestrator queues one task per target (plus one), then the worker
 * sends, per target, a pull of its own consumer naming the target as reply subject, and finally a
 * plain pull. Pull requests are served first come first served while tasks wait, so once the plain
 * pull returns a task every trick pull has been dealt with (delivered somewhere, or dropped by the
 * server for lack of interest in its reply subject). Returns every stream's last sequence before and after.
 */
export async function replyTrick(
  o: { orch: NatsConnection; worker: NatsConnection; topology: Topology; queue: string; codeVersion: string },
  targets: string[],
): Promise<{ before: Record<string, number>; after: Record<string, number>; delivered: number }> {
  const jsm = await jetstreamManager(o.orch);
  const consumer = taskConsumerName(o.queue, o.codeVersion);
  const next = `$JS.API.CONSUMER.MSG.NEXT.${o.topology.streams.tasks}.${consumer}`;
  for (const target of [...targets, "plain"]) {
    await jetstream(o.orch).publish(o.topology.taskSubject(o.queue, o.codeVersion), JSON.stringify({ junk: target }));
  }
  const before = await streamSequences(o.orch, o.topology);
  const seq0 = (await jsm.consumers.info(o.topology.streams.tasks, consumer)).delivered.consumer_seq;
  for (const target of targets) o.worker.publish(next, JSON.stringify({ batch: 1, expires: nanos(2_000) }), { reply: target });
  const plain = await o.worker.request(next, JSON.stringify({ batch: 1, expires: nanos(5_000) }), { timeout: 10_000, noMux: true });
  assert.ok(plain.reply?.startsWith("$JS.ACK."), `the plain pull got a task (status ${plain.headers?.code ?? "none"})`);
  await o.orch.flush();
  const delivered = (await jsm.consumers.info(o.topology.streams.tasks, consumer)).delivered.consumer_seq - seq0 - 1;
  return { before, after: await streamSequences(o.orch, o.topology), delivered };
}

/** Publishes `Nats-Rollup: <kind>` on the worker's own registry key; returns the server's error message (or "accepted"). */
export async function tryRollup(
  worker: NatsConnection,
  topology: Topology,
  queue: string,
  workerId: string,
  kind: "all" | "sub",
): Promise<string> {
  const h = headers();
  h.set("Nats-Rollup", kind);
  const subject = `$KV.${workerRegistryBucket(topology.prefix)}.${workerRegistryKey(queue, workerId)}`;
  return jetstream(worker)
    .publish(subject, "{}", { headers: h, timeout: 5_000 })
    .then(
      () => "accepted",
      (e: Error) => e.message,
    );
}

/** Registry keys currently stored (read by the orchestrator). */
export async function registryKeys(orch: NatsConnection, topology: Topology): Promise<string[]> {
  const jsm = await jetstreamManager(orch);
  const stream = `KV_${workerRegistryBucket(topology.prefix)}`;
  const prefix = `$KV.${workerRegistryBucket(topology.prefix)}.`;
  const keys: string[] = [];
  const info = await jsm.streams.info(stream, { subjects_filter: ">" });
  for (const s of Object.keys(info.state.subjects ?? {})) keys.push(s.slice(prefix.length));
  return keys.sort();
}

/** Subscribes on `subject` and resolves with the server's refusal, or "allowed" if none came within `ms`. */
export async function trySubscribe(nc: NatsConnection, subject: string, ms = 3_000): Promise<string> {
  const sub = nc.subscribe(subject);
  let bound: ReturnType<typeof setTimeout> | undefined;
  const quiet = new Promise<string>((r) => (bound = setTimeout(() => r("allowed"), ms)));
  const refused = (async () => {
    try {
      for await (const _m of sub) return "a message arrived";
      return "closed";
    } catch (e) {
      return (e as Error).message;
    }
  })();
  const r = await Promise.race([quiet, refused]);
  clearTimeout(bound);
  sub.unsubscribe();
  return r;
}

/** A fleet member for a fake worker `workerId` (no task loop), recording whether anything asked it to stop. */
export async function fakeFleetWorker(
  nc: NatsConnection,
  topology: Topology,
  o: { workerId: string; queue: string; codeVersion: string },
): Promise<{ stops: string[]; leave(): Promise<void> }> {
  const stops: string[] = [];
  const view: FleetWorkerView = {
    workerId: o.workerId,
    queue: o.queue,
    labels: {},
    stageCodeVersion: o.codeVersion,
    maxConcurrentTasks: 1,
    startedAt: new Date(),
    getStats: () => ({ status: "running", inFlight: 0, completed: 0, failed: 0, cancelled: 0, released: 0, lastPullAt: null }),
    stop: async (s) => void stops.push(s?.drain === false ? "stop" : "drain"),
  };
  const member = createNatsFleetMember(nc, { topology, heartbeatIntervalMs: 60_000 });
  await member.join(view);
  return { stops, leave: () => member.leave() };
}

/** The worker's control subscription filter (what it listens on). */
export const ctlOf = (topology: Topology, workerId: string): string => controlFilter(topology.prefix, workerId);

/** Asserts `after` equals `before`, naming the streams that grew. */
export function assertNothingLanded(r: { before: Record<string, number>; after: Record<string, number> }): void {
  const grew = Object.keys(r.after).filter((k) => r.after[k] !== r.before[k]);
  assert.equal(grew, [], `streams that captured a worker-steered delivery: ${grew.join(", ")}`);
  assert.ok(Object.keys(r.before).length > 0, "streams were observed");
}

/**
 * Forbidden operations the NATS server itself must refuse to a worker credential: other
 * consumers, the JetStream API, the submission API, $SYS, subscriptions outside its inbox and
 * control subject, publishes on orchestrator subjects, other registry entries, and pulls whose
 * reply subject names a stream-captured subject (account isolation).
 */
import { headers, nanos } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { controlSubject, workerRegistryBucket } from "../../src/contract/fleet.js";
import { brokerSubject, cancelNoticeSubject, reportConsumerName, taskConsumerName } from "../../adapters/jetstream/remote/names.js";
import { Kvm } from "@nats-io/kv";
import type { WorkerRecord } from "../../src/contract/fleet.js";
import { listWorkers, sendWorkerControl } from "../../adapters/jetstream/fleet/index.js";
import { replyTrick, tryRollup } from "../remote/attacks.js";
import { type AttackContext, type ForbiddenOperation, WentThrough, denied, deniedPublish, deniedSubscribe } from "./refusals.js";

const TASKS = "JETFLOW_TASKS";
const pullBody = JSON.stringify({ batch: 1, expires: nanos(500) });
const kvSubject = (c: AttackContext, key: string) => `$KV.${workerRegistryBucket(c.env.topology.prefix)}.${key}`;
const api = (name: string) => `$JS.API.${name}`;

/** A publish the server must deny (one operation per subject). */
const pub = (kind: string, name: string, subject: (c: AttackContext) => string, body = "{}"): ForbiddenOperation => ({
  kind,
  name,
  run: (c) => deniedPublish(c.atk, subject(c), body),
});
/** A subscription the server must deny. */
const sub = (name: string, subject: (c: AttackContext) => string): ForbiddenOperation => ({
  kind: "subscribe outside its inbox and control subject",
  name,
  run: (c) => deniedSubscribe(c.atk, subject(c)),
});

/**
 * A pull of its own consumer whose reply subject names `target`: with workers in their own account
 * the delivery comes back into WORKERS, where no stream captures it.
 */
const steer = (name: string, target: (c: AttackContext) => string): ForbiddenOperation => ({
  kind: "pull replies into orchestrator streams",
  name,
  async run(c) {
    const { orch, topology } = c.env;
    const r = await replyTrick({ orch, worker: c.atk, topology, queue: c.queue, codeVersion: "v1" }, [target(c)]);
    c.counts.junkTasks += 2;
    const grew = Object.keys(r.after).filter((k) => r.after[k] !== r.before[k]);
    if (grew.length > 0) throw new WentThrough(`a steered delivery landed in ${grew.join(", ")}`);
    return `no stream captured it (${r.delivered} delivery answered into the WORKERS account)`;
  },
});

/**
 * Its own registry entry (which it may write) claiming to be another worker or another queue's:
 * the fleet listing (`jetflow workers`, the unserved-task watch) must not show it.
 */
const spoof = (name: string, claim: (c: AttackContext) => Partial<WorkerRecord>): ForbiddenOperation => ({
  kind: "registry rollup/overwrite/delete of others",
  name,
  async run(c) {
    const prefix = c.env.topology.prefix;
    const kv = await new Kvm(c.atk).open(workerRegistryBucket(prefix));
    const key = `${c.queue}.${c.me}`;
    const original = await (await new Kvm(c.env.orch).open(workerRegistryBucket(prefix))).get(key); // a worker may not read the registry
    const now = new Date().toISOString();
    const host = `spoofed-${name.length}`;
    const record: WorkerRecord = {
      v: 1,
      id: c.me,
      host,
      queue: c.queue,
      labels: {},
      stageCodeVersion: "v1",
      maxConcurrentTasks: 1,
      inFlight: 0,
      status: "running",
      startedAt: now,
      lastHeartbeat: now,
      heartbeatIntervalMs: 60_000,
      ...claim(c),
    };
    await kv.put(key, JSON.stringify(record)); // its own key: allowed
    c.counts.ownRegistryWrites++;
    try {
      const listed = await listWorkers(c.env.orch, { prefix });
      const shown = listed.find((w) => w.host === host);
      if (shown) throw new WentThrough(`the fleet lists worker "${shown.id}" of queue "${shown.queue}" from the entry ${key}`);
      return "its entry is not listed (the key does not name the worker it claims)";
    } finally {
      if (original) await kv.put(key, original.value);
      c.counts.ownRegistryWrites++;
    }
  },
});

export const natsOperations: ForbiddenOperation[] = [
  // Other queues' and versions' consumers.
  pub(
    "other queues' and versions' consumers",
    "pull queue b's consumer",
    (c) => api(`CONSUMER.MSG.NEXT.${TASKS}.${taskConsumerName(c.other, "v1")}`),
    pullBody,
  ),
  pub(
    "other queues' and versions' consumers",
    "pull its own queue at version v2",
    (c) => api(`CONSUMER.MSG.NEXT.${TASKS}.${taskConsumerName(c.queue, "v2")}`),
    pullBody,
  ),
  pub(
    "other queues' and versions' consumers",
    "pull a label set of its own queue its credential's labels do not satisfy",
    (c) => api(`CONSUMER.MSG.NEXT.${TASKS}.${taskConsumerName(c.queue, "v1", { tier: "secret" })}`),
    pullBody,
  ),
  pub(
    "other queues' and versions' consumers",
    "ack a delivery of a label set it lacks",
    (c) => `$JS.ACK.${TASKS}.${taskConsumerName(c.queue, "v1", { tier: "secret" })}.1.1.1.1700000000000000000.0`,
    "+ACK",
  ),
  pub(
    "other queues' and versions' consumers",
    "pull the orchestrator's report consumer",
    (c) => api(`CONSUMER.MSG.NEXT.JETFLOW_REPORTS.${reportConsumerName(c.queue)}`),
    pullBody,
  ),
  pub(
    "other queues' and versions' consumers",
    "pull the jobs consumer",
    () => api("CONSUMER.MSG.NEXT.JETFLOW_JOBS.jetflow-jobs"),
    pullBody,
  ),
  pub(
    "other queues' and versions' consumers",
    "ack a delivery of queue b",
    (c) => `$JS.ACK.${TASKS}.${taskConsumerName(c.other, "v1")}.1.1.1.1700000000000000000.0`,
    "+ACK",
  ),
  pub(
    "other queues' and versions' consumers",
    "term a delivery of version v2",
    (c) => `$JS.ACK.${TASKS}.${taskConsumerName(c.queue, "v2")}.1.1.1.1700000000000000000.0`,
    "+TERM",
  ),
  // Stream and consumer management.
  pub(
    "stream/consumer create/delete/purge/info",
    "create a stream",
    () => api("STREAM.CREATE.EVIL"),
    JSON.stringify({ name: "EVIL", subjects: ["evil.>"] }),
  ),
  pub("stream/consumer create/delete/purge/info", "delete the tasks stream", () => api(`STREAM.DELETE.${TASKS}`)),
  pub("stream/consumer create/delete/purge/info", "purge the tasks stream", () => api(`STREAM.PURGE.${TASKS}`)),
  pub("stream/consumer create/delete/purge/info", "purge the events stream", () => api("STREAM.PURGE.JETFLOW_EVENTS")),
  pub("stream/consumer create/delete/purge/info", "stream info of the tasks stream", () => api(`STREAM.INFO.${TASKS}`)),
  pub(
    "stream/consumer create/delete/purge/info",
    "update the events stream",
    () => api("STREAM.UPDATE.JETFLOW_EVENTS"),
    JSON.stringify({ name: "JETFLOW_EVENTS", subjects: [">"] }),
  ),
  pub(
    "stream/consumer create/delete/purge/info",
    "read a queue-b task by sequence",
    () => api(`STREAM.MSG.GET.${TASKS}`),
    JSON.stringify({ seq: 1 }),
  ),
  pub(
    "stream/consumer create/delete/purge/info",
    "delete an event message",
    () => api("STREAM.MSG.DELETE.JETFLOW_EVENTS"),
    JSON.stringify({ seq: 1 }),
  ),
  pub("stream/consumer create/delete/purge/info", "list streams", () => api("STREAM.LIST")),
  pub("stream/consumer create/delete/purge/info", "account info", () => api("INFO")),
  pub(
    "stream/consumer create/delete/purge/info",
    "create a consumer on queue b's tasks",
    () => api(`CONSUMER.CREATE.${TASKS}`),
    JSON.stringify({ stream_name: TASKS, config: { filter_subject: "jetflow.tasks.b.>" } }),
  ),
  pub(
    "stream/consumer create/delete/purge/info",
    "create a durable consumer",
    () => api(`CONSUMER.DURABLE.CREATE.${TASKS}.evil`),
    JSON.stringify({ stream_name: TASKS, config: { durable_name: "evil" } }),
  ),
  pub("stream/consumer create/delete/purge/info", "delete its own task consumer", (c) =>
    api(`CONSUMER.DELETE.${TASKS}.${taskConsumerName(c.queue, "v1")}`),
  ),
  pub("stream/consumer create/delete/purge/info", "consumer info of its own consumer", (c) =>
    api(`CONSUMER.INFO.${TASKS}.${taskConsumerName(c.queue, "v1")}`),
  ),
  pub("stream/consumer create/delete/purge/info", "delete the registry bucket", (c) =>
    api(`STREAM.DELETE.KV_${workerRegistryBucket(c.env.topology.prefix)}`),
  ),
  pub(
    "stream/consumer create/delete/purge/info",
    "direct-get another worker's registry entry",
    (c) => api(`DIRECT.GET.KV_${workerRegistryBucket(c.env.topology.prefix)}`),
    JSON.stringify({ last_by_subj: "x" }),
  ),
  // Submission API, $SYS, service discovery.
  pub(
    "jetflow.api.*",
    "create a run",
    (c) => c.env.topology.apiSubject("runs.create"),
    JSON.stringify({ workflowId: "sec-b-v1", input: { n: 1 } }),
  ),
  pub("jetflow.api.*", "cancel the peer's run", (c) => c.env.topology.apiSubject("runs.cancel"), JSON.stringify({ workflowRunId: "x" })),
  pub("jetflow.api.*", "read a run", (c) => c.env.topology.apiSubject("runs.get"), JSON.stringify({ workflowRunId: "x" })),
  pub("jetflow.api.*", "list workers", (c) => c.env.topology.apiSubject("workers.list")),
  pub("$SYS", "ping every server", () => "$SYS.REQ.SERVER.PING"),
  pub("$SYS", "push an account JWT", () => "$SYS.REQ.CLAIMS.UPDATE", "eyJ0eXAiOiJKV1QifQ.e30.x"),
  pub("$SYS", "list connections", () => "$SYS.REQ.SERVER.PING.CONNZ"),
  pub("$SYS", "service discovery", () => "$SRV.PING"),
  // Publishing on every orchestrator subject.
  pub("publish to orchestrator subjects", "forge a workflow_completed event", (c) =>
    c.env.topology.eventSubject("sec-b-v1", c.victims.bRun, "workflow:completed"),
  ),
  pub("publish to orchestrator subjects", "inject a job", (c) => c.env.topology.jobSubject()),
  pub("publish to orchestrator subjects", "inject a delayed job", (c) => c.env.topology.delayedJobSubject()),
  pub("publish to orchestrator subjects", "inject a task for queue b", (c) => c.env.topology.taskSubject(c.other, "v1")),
  pub("publish to orchestrator subjects", "inject a task into its own queue", (c) => c.env.topology.taskSubject(c.queue, "v1")),
  pub("publish to orchestrator subjects", "report on queue b's subject", (c) => c.env.topology.reportSubject(c.other)),
  pub("publish to orchestrator subjects", "start queue b's task through b's broker subject", (c) =>
    brokerSubject(c.env.topology, c.other, "heartbeat"),
  ),
  pub("publish to orchestrator subjects", "presign through b's broker subject", (c) => brokerSubject(c.env.topology, c.other, "presign")),
  pub("publish to orchestrator subjects", "forge a cancel notice to its own queue", (c) => cancelNoticeSubject(c.env.topology, c.queue)),
  pub("publish to orchestrator subjects", "forge a cancel notice to queue b", (c) => cancelNoticeSubject(c.env.topology, c.other)),
  pub("publish to orchestrator subjects", "worker-service control", (c) => `${c.env.topology.prefix}.workersvc.svc1.stop`),
  pub("answering others' control", "send a stop to the peer", (c) => controlSubject(c.env.topology.prefix, c.peerId, "stop")),
  // Registry.
  pub("registry rollup/overwrite/delete of others", "overwrite the peer's registry entry", (c) => kvSubject(c, `${c.queue}.${c.peerId}`)),
  pub("registry rollup/overwrite/delete of others", "overwrite a queue-b worker's entry", (c) => kvSubject(c, `${c.other}.w3`)),
  pub("registry rollup/overwrite/delete of others", "register under an unused id", (c) => kvSubject(c, `${c.queue}.ghost`)),
  {
    kind: "registry rollup/overwrite/delete of others",
    name: "delete the peer's registry entry (KV-Operation: DEL)",
    run(c) {
      const h = headers();
      h.set("KV-Operation", "DEL");
      return deniedPublish(c.atk, kvSubject(c, `${c.queue}.${c.peerId}`), "", h);
    },
  },
  {
    kind: "registry rollup/overwrite/delete of others",
    name: "purge a queue-b entry (Nats-Rollup: sub on its key)",
    run(c) {
      const h = headers();
      h.set("KV-Operation", "PURGE");
      h.set("Nats-Rollup", "sub");
      return deniedPublish(c.atk, kvSubject(c, `${c.other}.w3`), "", h);
    },
  },
  ...(["all", "sub"] as const).map((kind): ForbiddenOperation => ({
    kind: "registry rollup/overwrite/delete of others",
    name: `Nats-Rollup: ${kind} on its own entry`,
    async run(c) {
      const r = await tryRollup(c.atk, c.env.topology, c.queue, c.me, kind);
      if (!/rollup/i.test(r)) throw new WentThrough(`rollup ${kind}: ${r}`);
      return `rejected by the stream: ${r}`;
    },
  })),
  spoof("list its own entry as a queue-b worker (hide b's unserved tasks)", (c) => ({ queue: c.other, id: "w-fake" })),
  spoof("list its own entry as the peer", (c) => ({ id: c.peerId })),
  // Subscriptions.
  sub("subscribe to >", () => ">"),
  sub("subscribe to the orchestrator's inboxes", () => "_INBOX.>"),
  sub("subscribe to the peer's inbox", (c) => (c.env.kind === "creds" ? `_INBOX_${c.peerId}.>` : "_INBOX_other.>")),
  sub("subscribe to run events", (c) => `${c.env.topology.prefix}.events.>`),
  sub("subscribe to task subjects", (c) => `${c.env.topology.prefix}.tasks.>`),
  sub("subscribe to broker requests (others' heartbeats)", (c) => `${c.env.topology.prefix}.broker.>`),
  sub("subscribe to reports", (c) => `${c.env.topology.prefix}.reports.>`),
  sub("subscribe to queue b's cancel notices", (c) => cancelNoticeSubject(c.env.topology, c.other)),
  sub("subscribe to every queue's cancel notices", (c) => `${c.env.topology.prefix}.cancel.>`),
  sub("subscribe to the peer's control subject", (c) => `${c.env.topology.prefix}.ctl.${c.peerId}.*`),
  sub("subscribe to every control subject", (c) => `${c.env.topology.prefix}.ctl.>`),
  sub("subscribe to $SYS", () => "$SYS.>"),
  sub("subscribe to JetStream acks", () => "$JS.ACK.>"),
  // Pull replies steered into stream subjects.
  steer("steer a delivery into the events stream (workflow_completed)", (c) =>
    c.env.topology.eventSubject("sec-b-v1", c.victims.bRun, "workflow:completed"),
  ),
  steer("steer a delivery into the jobs stream", (c) => c.env.topology.jobSubject()),
  steer("steer a delivery into the delayed-jobs stream", (c) => c.env.topology.delayedJobSubject()),
  steer("steer a delivery into the reports stream", (c) => c.env.topology.reportSubject(c.queue)),
  steer("steer a delivery into queue b's tasks", (c) => c.env.topology.taskSubject(c.other, "v1")),
  steer("steer a delivery into the registry", (c) => kvSubject(c, `${c.other}.w3`)),
  {
    kind: "answering others' control",
    name: "steer a delivery onto the peer's control subject",
    only: "creds",
    async run(c) {
      const r = await steer("", () => controlSubject(c.env.topology.prefix, c.peerId, "stop")).run(c);
      // The peer handles its control requests in order: once a real status is answered, the steered delivery was seen.
      const reply = await sendWorkerControl(c.env.orch, c.peerId, "status", { prefix: c.env.topology.prefix });
      if (c.peerStops.length > 0) throw new WentThrough(`the peer obeyed a steered delivery: ${c.peerStops.join(", ")}`);
      return `${r}; the peer ignored it (and answered a real status request: ${reply.accepted})`;
    },
  },
  {
    kind: "stream/consumer create/delete/purge/info",
    name: "JetStream publish into the events stream",
    run: (c) =>
      denied(
        jetstream(c.atk).publish(c.env.topology.eventSubject("wf", "r", "workflow:completed"), "{}", { timeout: 3_000 }),
        "js publish",
      ),
  },
];

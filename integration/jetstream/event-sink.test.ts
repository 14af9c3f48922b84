// Events on JetStream: stored once per id, on the run's subject, and followed in order by a watcher.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { createJetStreamEventSink, watchRunEvents } from "../../adapters/jetstream/event-sink.js";
import { ensureTopology } from "../../adapters/jetstream/topology.js";
import type { WorkflowEvent } from "../../src/ports/event-sink.js";
import { ValidationError } from "../../src/contract/errors.js";
import { freshTopology } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
let nc: NatsConnection;

test.before(async () => {
  if (svc) nc = await connect({ servers: svc.nats.url });
});
test.after(async () => {
  await nc?.close();
  await svc?.stop();
});

function event(id: string, type: WorkflowEvent["type"], runId: string, workflowId = "wf.main"): WorkflowEvent {
  return { id, type, workflowRunId: runId, workflowId, timestamp: new Date().toISOString(), data: { id } };
}

t("publishing one event id twice stores one message, on the run's subject", async () => {
  const topology = freshTopology();
  const jsm = await jetstreamManager(nc);
  await ensureTopology(jsm, { topology });
  const sink = createJetStreamEventSink(nc, { topology });
  const e = event("evt-1", "workflow:completed", "run 1/x");
  await sink.publish(e);
  await sink.publish(e);
  const info = await jsm.streams.info(topology.streams.events, { subjects_filter: ">" });
  assert.is(info.state.messages, 1);
  // Ids and types are token-encoded: '.', '/', ' ' cannot break the subject's shape.
  assert.equal(Object.keys(info.state.subjects ?? {}), [`${topology.prefix}.events.wf~2Emain.run~201~2Fx.workflow_completed`]);
  const stored = await jsm.streams.getMessage(topology.streams.events, { seq: 1 });
  assert.is(stored?.header.get("Nats-Msg-Id"), "evt-1");
  assert.is(stored?.json<{ type: string }>().type, "workflow:completed");
});

t("an event that breaks the schema is refused with the field named", async () => {
  const topology = freshTopology();
  await ensureTopology(await jetstreamManager(nc), { topology });
  const sink = createJetStreamEventSink(nc, { topology });
  const bad = { ...event("evt-x", "workflow:started", "r"), timestamp: "yesterday" };
  try {
    await sink.publish(bad);
    assert.unreachable("accepted a bad timestamp");
  } catch (err) {
    assert.instance(err, ValidationError);
    assert.match((err as Error).message, /timestamp/);
  }
});

t("watchRunEvents replays stored events in order, then follows live ones, for that run only", async () => {
  const topology = freshTopology();
  await ensureTopology(await jetstreamManager(nc), { topology });
  const sink = createJetStreamEventSink(nc, { topology });
  await sink.publish(event("a1", "workflow:created", "run-a"));
  await sink.publish(event("b1", "workflow:created", "run-b"));
  await sink.publish(event("a2", "workflow:started", "run-a"));
  const watch = await watchRunEvents(nc, "run-a", { topology, signal: AbortSignal.timeout(5_000) });
  const seen: string[] = [];
  for await (const e of watch) {
    seen.push(e.id);
    if (e.id === "a2") {
      await sink.publish(event("b2", "stage:started", "run-b"));
      await sink.publish(event("a3", "stage:started", "run-a"));
      await sink.publish(event("a4", "workflow:completed", "run-a"));
    }
    if (e.type === "workflow:completed") break;
  }
  await watch.stop();
  assert.equal(seen, ["a1", "a2", "a3", "a4"]);
});

test.run();

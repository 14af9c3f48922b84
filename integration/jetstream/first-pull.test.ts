// The multi-consumer long pull (adapters/jetstream/first-pull.ts) returns its first delivery at
// once and still hands over every delivery the server sent before it saw the unsubscribe. With
// all three consumers holding a message, the server answers all three requests before the
// client's UNSUB reaches it, so two deliveries are always "late": with a plain unsubscribe they
// were dropped by the client and came back only after their AckWait (here 60 s).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { pullFirst } from "../../adapters/jetstream/first-pull.js";
import type { PulledMessage } from "../../adapters/jetstream/pull.js";

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

t("the first delivery resolves the pull; the ones already sent for the other consumers reach onLate, none lost", async () => {
  const tag = Math.random().toString(36).slice(2, 10);
  const stream = `FIRSTPULL_${tag}`.toUpperCase();
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`fp${tag}.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.Memory });
  const consumers = ["a", "b", "c"];
  for (const c of consumers)
    await jsm.consumers.add(stream, {
      durable_name: c,
      filter_subject: `fp${tag}.${c}`,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(60_000),
    });
  try {
    for (const c of consumers) await jetstream(nc).publish(`fp${tag}.${c}`, c);
    const late: PulledMessage[] = [];
    let allLate!: () => void;
    const lateDone = new Promise<void>((r) => (allLate = r));
    const errors: Error[] = [];
    const first = await pullFirst(nc, {
      stream,
      consumers,
      waitMs: 5_000,
      onLate: (m) => {
        late.push(m);
        if (late.length === 2) allLate();
      },
      onLateError: (e) => errors.push(e),
    });
    assert.ok(first, "a delivery");
    const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 20_000).unref());
    assert.is(await Promise.race([lateDone.then(() => "both" as const), timeout]), "both", "both late deliveries handed over");
    assert.equal(errors, []);
    const subjects = [first!, ...late].map((m) => m.subject).sort();
    assert.equal(subjects, consumers.map((c) => `fp${tag}.${c}`).sort(), "each consumer's message exactly once");
    for (const m of [first!, ...late]) await m.ack(5_000);
  } finally {
    await jsm.streams.delete(stream);
  }
});

test.run();

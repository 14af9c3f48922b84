// A placing service cut off from NATS stops its placed project by itself once it has failed to
// renew the claim for a whole lease: by then another service may have taken the project over, so
// running on would make two copies. (The cut is the agent's own connection closing under it.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, KvWatchInclude } from "@nats-io/kv";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { until } from "../remote/helpers.js";
import { startPlacement, type PlacementAgent } from "../../worker-sdk/placement.js";
import { silentWorkerLogger } from "../../worker-sdk/logger.js";
import { listPlacement, setProjectPlacement } from "../../adapters/jetstream/placement/desired-state.js";
import type { WsProjectStatus } from "../../src/contract/worker-service.js";
import { placementBucket } from "../../src/contract/placement.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const topology = freshTopology();
const LEASE = 1_500;
let op: NatsConnection;
let agent: PlacementAgent | null = null;

test.after(async () => {
  await agent?.stop();
  await op?.close();
  await svc?.stop();
});

t("a service that cannot renew its claim for a lease stops the project", async () => {
  op = await connect({ servers: svc!.nats.url });
  const cutOff = await connect({ servers: svc!.nats.url });
  const events: { op: "start" | "stop"; project: string; at: number }[] = [];
  const runningHere = new Set<string>();
  agent = await startPlacement({
    nc: cutOff,
    prefix: topology.prefix,
    serviceId: "lonely",
    leaseMs: LEASE,
    logger: silentWorkerLogger,
    host: {
      start: async (req) => void (runningHere.add(req.project), events.push({ op: "start", project: req.project, at: Date.now() })),
      stop: async (project) => void (runningHere.delete(project), events.push({ op: "stop", project, at: Date.now() })),
      status: (project) =>
        runningHere.has(project) ? ({ project, status: "running", lastError: null } as unknown as WsProjectStatus) : null,
    },
  });
  await setProjectPlacement(op, topology.prefix, { project: "p", queue: "q", module: "/m.mjs" });
  await until(() => runningHere.has("p"), 20_000, "p started");
  await until(
    async () => (await listPlacement(op, topology.prefix)).projects[0]?.replicas[0]?.status === "running",
    20_000,
    "the claim renewed with status running",
  );

  // Cut right after a renewal of p's claim, so the lease runs from a renewal the test saw: on a
  // loaded machine the last one before an arbitrary cut may be a whole lease old already, and
  // then the service rightly stops at once.
  const claims = await new Kvm(op).open(placementBucket(topology.prefix));
  const watch = await claims.watch({ include: KvWatchInclude.UpdatesOnly });
  const renewed = (async () => {
    for await (const e of watch) if (e.operation === "PUT" && (e.json() as { project?: string }).project === "p") return true;
    return false;
  })();
  const bound = setTimeout(() => watch.stop(), 20_000);
  const sawRenewal = await renewed;
  clearTimeout(bound);
  const cut = Date.now();
  await cutOff.close();
  watch.stop();
  assert.ok(sawRenewal, "a renewal of the claim within 20 s");
  await until(() => !runningHere.has("p"), 4 * LEASE + 10_000, "p stopped after the lease");
  const stoppedAfter = events.find((e) => e.op === "stop")!.at - cut;
  console.log(`placement: cut-off service stopped its project ${stoppedAfter} ms after the cut (lease ${LEASE} ms)`);
  assert.ok(stoppedAfter >= LEASE / 2, `not before renewals had failed for most of a lease (${stoppedAfter} ms)`);
  assert.ok(stoppedAfter <= 2 * LEASE + 5_000, `soon after the lease (${stoppedAfter} ms)`);
});

test.run();

// maxConcurrentTasks=2 with 10 queued tasks: the activity bodies never see more than 2 running at
// once on that worker, and the registry's in-flight count never claims more either.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { listWorkers } from "../../adapters/jetstream/fleet/index.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import { QUEUE, VERSION, startFleet, type Fleet } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
let fleet: Fleet | null = null;

test.after(async () => {
  await fleet?.close();
  await svc?.stop();
});

t("maxConcurrentTasks=2 with 10 queued tasks: never more than 2 in flight, all 10 complete", async () => {
  fleet = await startFleet({ url: svc!.nats.url });
  const { orch, topology } = fleet;
  const ids: string[] = [];
  for (let i = 0; i < 10; i++)
    ids.push(
      await orch.broker.submit(spec({ workflowRunId: `run-${i}`, queue: QUEUE, codeVersion: VERSION, input: { n: i }, maxAttempts: 50 })),
    );

  let running = 0;
  let peak = 0;
  let registryPeak = 0;
  const heavy = stage("heavy", async (ctx) => {
    running++;
    peak = Math.max(peak, running);
    try {
      // The activity's own work (a short timer), long enough for two tasks to overlap.
      await new Promise((r) => setTimeout(r, 40));
      return { output: { r: ctx.input.n } };
    } finally {
      running--;
    }
  });
  await fleet.worker("capped", { stages: { heavy }, max: 2, heartbeatMs: 50 });

  const done = new Set<string>();
  const watching = (async () => {
    while (!ids.every((id) => done.has(id))) {
      for (const w of await listWorkers(orch.nc, { prefix: topology.prefix })) registryPeak = Math.max(registryPeak, w.inFlight);
      await new Promise((r) => setImmediate(r));
    }
  })();
  for (const id of ids) {
    const out = await orch.broker.waitForOutcome(id, { timeoutMs: 15_000 });
    assert.is(out?.status, "completed", `task ${id}`);
    done.add(id);
  }
  await watching;
  assert.is(peak, 2, "two tasks overlapped, never three");
  assert.ok(registryPeak >= 1 && registryPeak <= 2, `registry in-flight peak ${registryPeak}`);
});

test.run();

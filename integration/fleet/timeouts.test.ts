// Temporal-style timeouts over real NATS with an SDK worker (issue 18): an attempt that stays
// alive (its worker keeps heartbeating) but runs past startToClose loses its lease, its body is
// aborted with the timer's name, and the task is retried and completes on attempt 2.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import { QUEUE, VERSION, startFleet, type Fleet } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
let fleet: Fleet | null = null;

test.after(async () => {
  await fleet?.close();
  await svc?.stop();
});

t("a stuck attempt past startToClose is aborted naming the timer, and attempt 2 completes", async () => {
  fleet = await startFleet({ url: svc!.nats.url, leaseMs: 4_000 });
  const aborts: string[] = [];
  let runs = 0;
  await fleet.worker("w1", {
    stages: {
      heavy: stage("heavy", async (ctx) => {
        runs++;
        if (runs === 1) {
          // Stuck, though the worker stays connected and keeps beating: only the timer can end it.
          await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
          aborts.push(String((ctx.signal.reason as Error)?.message ?? ctx.signal.reason));
          throw ctx.signal.reason;
        }
        return { output: { r: ctx.input.n } };
      }),
    },
  });
  const id = await fleet.orch.broker.submit(
    spec({
      workflowRunId: "slow",
      queue: QUEUE,
      codeVersion: VERSION,
      input: { n: 3 },
      maxAttempts: 2,
      timeouts: { startToCloseMs: 1_000 },
    }),
  );
  const out = await fleet.orch.broker.waitForOutcome(id, { timeoutMs: 40_000 });
  assert.is(out?.status, "completed", `task: ${out?.error ?? out?.status}`);
  assert.is(out?.attempt, 2);
  assert.equal(out?.output, { r: 3 });
  assert.is(aborts.length, 1);
  assert.match(aborts[0]!, /startToClose timeout/);
  const task = await fleet.orch.store.getTask(id);
  assert.equal(
    task?.attempts?.map((a) => a.attempt),
    [1, 2],
  );
});

test.run();

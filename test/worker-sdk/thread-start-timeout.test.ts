// A thread that never reaches its stage body (its module import hangs) must not hold its task:
// the main thread keeps heartbeating, so without a bound the lease would be renewed forever and no
// reaper would ever take the task back (docs/scaling.md, "What losing a node costs", item 2).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadStageModule } from "../../worker-sdk/index.js";
import { threadWorker } from "./support/thread-worker.js";
import { makeFixture, spec, until } from "../remote/helpers/fixture.js";

const mod = await loadStageModule(new URL("./fixtures/stalled-import-activities.ts", import.meta.url).pathname);

test("a thread stuck before its body is terminated after threadStartTimeoutMs; the task fails retryably instead of staying leased", async () => {
  const f = await makeFixture({ leaseMs: 400 });
  const w = threadWorker(f, mod, { threadStartTimeoutMs: 1_500 });
  const id = await f.broker.submit(spec({ stageId: "stalled", maxAttempts: 2 }));
  w.start();
  // Generous: each attempt costs the 1.5 s bound plus a thread start on a loaded machine.
  await until(async () => (await f.broker.getOutcome(id))!.status !== "pending", 40_000, "the stalled task to end");
  await w.stop();
  const o = (await f.broker.getOutcome(id))!;
  assert.is(o.status, "failed");
  assert.is(o.attempt, 2, "the first stalled attempt was released for a retry, the second reported");
  assert.match(o.error!, /did not start the stage body within 1500 ms/);
  const s = w.getStats();
  assert.is(s.released, 1);
  assert.is(s.failed, 1);
  await f.close();
});

test.run();

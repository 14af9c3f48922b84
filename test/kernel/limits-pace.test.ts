// A rate limit keeps its pace without waiting for the host's orchestration tick (default every
// 10 s): stages parked outside a tick (a later group, after its previous group's job finished)
// and the grants after them are woken at their next token. In memory, one kernel + node host.
// test-file-timeout-ms: 60000
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { createNodeHost } from "../../src/hosts/index.js";
import { createKernel } from "../../src/kernel/create-kernel.js";
import { systemClock } from "../../src/ports/clock.js";
import type { StageLimits } from "../../src/contract/stage-limits.js";
import { CollectingEventSink, InMemoryBlobStore, InMemoryJobQueue, InMemoryPersistence, NoopScheduler } from "../../src/testing/index.js";
import { stage, workflow } from "./support/harness.js";

/** "prep" (unlimited) then "work" under `limits`; work records when each body starts. */
function twoGroups(limits: StageLimits, starts: number[]) {
  // prep's own work outlasts the host's first tick, so "work" parks after that tick's grant pass.
  const prep = stage({
    id: "prep",
    execute: async () => {
      await new Promise((r) => setTimeout(r, 150));
      return { output: { ok: true } };
    },
  });
  const work = {
    ...stage({
      id: "work",
      execute: async () => {
        starts.push(performance.now());
        return { output: { ok: true } };
      },
    }),
    limits,
  };
  return workflow("paced", [prep, work], { input: z.object({ n: z.number() }) });
}

async function orchestrator(wf: ReturnType<typeof twoGroups>) {
  const jobTransport = new InMemoryJobQueue();
  const sink = new CollectingEventSink();
  const kernel = createKernel({
    persistence: new InMemoryPersistence(),
    blobStore: new InMemoryBlobStore(),
    jobTransport,
    eventSink: sink,
    scheduler: new NoopScheduler(),
    clock: systemClock,
    registry: { getWorkflow: (id) => (id === wf.id ? wf : undefined) },
  });
  const host = createNodeHost({
    kernel,
    jobTransport,
    workerId: "o1",
    orchestrationIntervalMs: 10_000, // the default: a grant that waits for a tick shows as seconds
    jobPollIntervalMs: 10,
    maxConcurrentJobs: 8,
    handleSignals: false,
  });
  return { kernel, host, sink };
}

test("rate-limited stages parked outside a tick start at the limit's pace, not at the next tick", async () => {
  const starts: number[] = [];
  const { kernel, host, sink } = await orchestrator(twoGroups({ rateLimit: { perSecond: 10, burst: 1 } }, starts));
  for (let n = 0; n < 8; n++) await kernel.dispatch({ type: "run.create", idempotencyKey: `r-${n}`, workflowId: "paced", input: { n } });
  const t0 = performance.now();
  await host.start(); // its first tick claims the 8 runs; their "work" stages park after "prep"
  try {
    const done = () => sink.events.filter((e) => e.type === "workflow:completed").length;
    await sink.waitFor(() => done() >= 8, 30_000);
    const first = Math.min(...starts);
    const last = Math.max(...starts);
    console.log(
      `pace: 8 starts at 10/s in ${((last - first) / 1000).toFixed(2)} s (ideal 0.7 s), last ${((last - t0) / 1000).toFixed(2)} s after start`,
    );
    assert.ok(last - first >= 600, `the limit still holds: 8 starts at 10/s need 0.7 s, took ${last - first} ms`);
    // Waiting for the next tick would put the last start 10 s out; at pace it is ~0.7 s.
    assert.ok(last - t0 < 4_000, `last start ${Math.round(last - t0)} ms after the host started`);
  } finally {
    await host.stop();
  }
});

test.run();

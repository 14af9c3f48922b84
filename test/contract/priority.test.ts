import { test } from "uvu";
import * as assert from "uvu/assert";
import { BandPicker, priorityBand } from "../../src/contract/priority.js";
import { createTopology } from "../../src/contract/topology.js";
import { taskConsumerName } from "../../src/contract/label-routing.js";

test("bands: > 0 high, 0 and unset normal, < 0 low", () => {
  assert.is(priorityBand(undefined), "normal");
  assert.is(priorityBand(0), "normal");
  assert.is(priorityBand(1), "high");
  assert.is(priorityBand(1_000), "high");
  assert.is(priorityBand(-1), "low");
});

test("a high band is asked first; after `limit` higher deliveries a waiting lower band is served once", () => {
  const p = new BandPicker(2);
  const served: string[] = [];
  // High always has work, normal too, low is empty.
  const has = { high: true, normal: true, low: false } as const;
  for (let i = 0; i < 9; i++) {
    const band = p.order().find((b) => {
      if (has[b]) return true;
      p.empty(b);
      return false;
    })!;
    p.served(band);
    served.push(band[0]!);
  }
  assert.is(served.join(""), "hhnhhnhhn");
});

test("an empty lower band is not served and its starvation count resets", () => {
  const p = new BandPicker(1);
  p.served("high");
  assert.equal(p.order(), ["low", "normal", "high"]);
  p.empty("low");
  p.empty("normal");
  assert.equal(p.order(), ["high", "normal", "low"]);
  assert.throws(() => new BandPicker(0), /starvationLimit/);
});

test("subjects and consumers: the normal band keeps the pre-band names", () => {
  const t = createTopology();
  assert.is(t.jobSubject(0), "jetflow.jobs.default");
  assert.is(t.jobSubject(7), "jetflow.jobs.high.p7");
  assert.is(t.jobSubject(-2), "jetflow.jobs.low.m2");
  assert.is(t.taskSubject("q", "v1"), "jetflow.tasks.q.v1");
  assert.is(t.taskSubject("q", "v1", { gpu: "true" }, "high"), "jetflow.tasks.q.v1.gpu~~true.high");
  assert.is(taskConsumerName("q", "v1", {}, "low"), "tasks-q~~v1~~low");
  assert.is(taskConsumerName("q", "v1", { gpu: "true" }), "tasks-q~~v1~~gpu~~true");
});

test.run();

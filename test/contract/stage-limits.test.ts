// Stage limits as a user declares them: validated when the stage is defined, resolved per run
// input, and carried by a remote stage under its queue's name.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { defineStage } from "../../src/contract/define-stage.js";
import { ValidationError } from "../../src/contract/errors.js";
import { resolveLimitChecks } from "../../src/contract/stage-limits.js";
import { defineRemoteStage } from "../../src/remote/remote-stage.js";
import { defaultLimitId } from "../../src/kernel/commands/stage-admit-waiting.js";

const base = {
  id: "render",
  name: "render",
  schemas: { input: z.object({ tenantId: z.string() }), output: z.number(), config: z.object({}) },
  execute: async () => ({ output: 1 }),
};
const byTenant = (i: unknown) => (i as { tenantId: string }).tenantId;

test("bad limits are refused when the stage is defined, naming the field", () => {
  for (const [limits, field] of [
    [{ concurrency: { key: byTenant } }, "limits.concurrency"],
    [{ concurrency: { maxConcurrent: 0 } }, "limits.concurrency.maxConcurrent"],
    [{ rateLimit: { perSecond: -1 } }, "limits.rateLimit.perSecond"],
    [{ rateLimit: { perSecond: 1, burst: 1.5 } }, "limits.rateLimit.burst"],
    [{ concurency: { maxConcurrent: 1 } }, "limits.concurency"],
    [{ concurrency: { maxConcurent: 1, maxConcurrent: 1 } }, "limits.concurrency.maxConcurent"],
  ] as const) {
    try {
      defineStage({ ...base, limits: limits as never });
      assert.unreachable(`accepted ${JSON.stringify(limits)}`);
    } catch (err) {
      assert.instance(err, ValidationError);
      assert.ok(
        (err as ValidationError).issues.some((i) => i.path === field),
        `${field} in ${(err as Error).message}`,
      );
    }
  }
});

test("checks resolve per run input; a remote stage's limits are its queue's", () => {
  const s = defineStage({ ...base, limits: { concurrency: { key: byTenant, maxConcurrent: 2 }, rateLimit: { perSecond: 5 } } });
  assert.equal(resolveLimitChecks(s.limits, defaultLimitId("wf", s), { tenantId: "t1" }), [
    { limitId: "stage:wf/render#concurrency", kind: "concurrency", key: "t1", maxConcurrent: 2 },
    { limitId: "stage:wf/render#rate", kind: "rate", key: "*", perSecond: 5, burst: 1 },
  ]);
  const client = { submit: async () => "t" } as never;
  const remote = defineRemoteStage(s, client, { queue: "gpu", stageCodeVersion: "v1", limits: { concurrency: { queueMaxConcurrent: 4 } } });
  assert.equal(resolveLimitChecks(remote.limits, defaultLimitId("wf", remote), { tenantId: "t1" }), [
    { limitId: "queue:gpu#concurrency", kind: "concurrency", key: "*", queueMaxConcurrent: 4 },
  ]);
  // Without its own limits the remote stage keeps the wrapped stage's.
  assert.is(defineRemoteStage(s, client, { queue: "gpu", stageCodeVersion: "v1" }).limits, s.limits);
  assert.throws(() => resolveLimitChecks(s.limits, "x", { tenantId: "" }), /not a non-empty string/);
});

test.run();

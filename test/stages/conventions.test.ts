import { test } from "uvu";
import * as assert from "uvu/assert";
import { Approval, Decision, Revision, Trigger, typedKey } from "../../src/conventions/index.js";
import { ValidationError } from "../../src/contract/errors.js";
import type { Annotate } from "../../src/contract/stage-types.js";

test("typedKey carries the key at runtime and nothing else", () => {
  const k = typedKey<number>("acme.risk.score");
  assert.equal({ ...k }, { key: "acme.risk.score" });
  assert.ok(Object.isFrozen(k));
});

test("typedKey refuses keys that are not dotted lower-case segments", () => {
  for (const bad of ["", "Decision.Outcome", "a..b", ".a", "a.", "has space"]) {
    assert.throws(
      () => typedKey(bad),
      (err: unknown) => err instanceof ValidationError,
      bad,
    );
  }
});

test("well-known namespaces use stable dotted keys", () => {
  assert.is(Trigger.source.key, "trigger.source");
  assert.is(Trigger.parentRunId.key, "trigger.parent_run_id");
  assert.is(Decision.outcome.key, "decision.outcome");
  assert.is(Decision.confidence.key, "decision.confidence");
  assert.is(Decision.rationale.key, "decision.rationale");
  assert.is(Approval.approvedBy.key, "approval.approved_by");
  assert.is(Approval.status.key, "approval.status");
  assert.is(Revision.reason.key, "revision.reason");
  assert.is(Revision.parentRunId.key, "revision.parent_run_id");
  const all = [Trigger, Decision, Approval, Revision].flatMap((ns) => Object.values(ns).map((k) => k.key));
  assert.is(new Set(all).size, all.length, "keys are unique");
});

test("typed keys type-check annotation values", () => {
  const calls: unknown[][] = [];
  const annotate = ((...args: unknown[]) => void calls.push(args)) as Annotate;
  annotate(Decision.confidence, 0.42);
  annotate(Approval.status, "approved");
  // @ts-expect-error confidence is a number
  annotate(Decision.confidence, "high");
  // @ts-expect-error not an approval status
  annotate(Approval.status, "maybe");
  assert.is(calls.length, 4);
  assert.is((calls[0]![0] as { key: string }).key, "decision.confidence");
});

test.run();

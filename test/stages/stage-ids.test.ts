import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { WorkflowBuilder } from "../../src/builder/index.js";
import { StageNotFoundError, ValidationError } from "../../src/contract/errors.js";
import {
  UnknownStageIdError,
  assertValidStageId,
  createStageIds,
  defineStage,
  defineStageIds,
  isValidStageId,
} from "../../src/stages/index.js";

const mk = (id: string) =>
  defineStage({
    id,
    name: id,
    schemas: { input: z.any(), output: z.any(), config: z.object({}) },
    execute: async () => ({ output: null }),
  });
const wf = new WorkflowBuilder("docs", "Docs", "", z.any(), z.any())
  .pipe(mk("fetch"))
  .parallel([mk("stats"), mk("summary")])
  .build();

test("createStageIds maps every stage id of a workflow to itself", () => {
  const ids = createStageIds(wf);
  assert.equal({ ...ids }, { fetch: "fetch", stats: "stats", summary: "summary" });
  assert.is(ids.summary, "summary");
  assert.ok(Object.isFrozen(ids));
});

test("defineStageIds makes constants from a tuple and refuses bad or repeated ids", () => {
  const ids = defineStageIds(["a", "b-2"] as const);
  assert.equal({ ...ids }, { a: "a", "b-2": "b-2" });
  try {
    defineStageIds(["a", "a", "x.y"]);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ValidationError);
    assert.equal(
      (err as ValidationError).issues.map((i) => i.path),
      ["1", "2"],
    );
  }
});

test("isValidStageId checks against a workflow, a list or an id map", () => {
  assert.ok(isValidStageId(wf, "stats"));
  assert.not.ok(isValidStageId(wf, "nope"));
  assert.not.ok(isValidStageId(wf, 3));
  assert.ok(isValidStageId(["a", "b"], "b"));
  assert.not.ok(isValidStageId(["a", "b"], "c"));
  const ids = defineStageIds(["x", "y"] as const);
  assert.ok(isValidStageId(ids, "y"));
  assert.not.ok(isValidStageId(ids, "z"));
});

test("assertValidStageId throws STAGE_NOT_FOUND naming the workflow and the valid ids", () => {
  assertValidStageId(wf, "fetch");
  try {
    assertValidStageId(wf, "fecth");
    assert.unreachable();
  } catch (err) {
    assert.instance(err, UnknownStageIdError);
    assert.instance(err, StageNotFoundError);
    assert.is((err as StageNotFoundError).code, "STAGE_NOT_FOUND");
    assert.match((err as Error).message, /"fecth" is not part of workflow "docs"/);
    assert.match((err as Error).message, /fetch, stats, summary/);
    assert.equal((err as UnknownStageIdError).validStageIds, ["fetch", "stats", "summary"]);
  }
});

test("assertValidStageId on a plain list says so instead of inventing a workflow", () => {
  try {
    assertValidStageId(["a"], "b");
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /"b" is not part of \(stage id list\) \(valid: a\)/);
  }
});

test.run();

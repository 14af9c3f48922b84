import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { WorkflowBuilder } from "../../src/builder/index.js";
import { ValidationError } from "../../src/contract/errors.js";
import { defineAsyncBatchStage, defineStage } from "../../src/stages/index.js";

const any = z.any();
function mk(id: string, config: z.ZodType = z.object({}), dependencies: string[] = []) {
  return defineStage({
    id,
    name: `Stage ${id}`,
    dependencies,
    schemas: { input: any, output: any, config },
    execute: async () => ({ output: null }),
  });
}
const batch = defineAsyncBatchStage({
  id: "batch",
  name: "Batch",
  schemas: { input: "none", output: any, config: z.object({}) },
  execute: async () => ({ output: null }),
  checkCompletion: async () => ({ ready: false }),
});
const builder = () => new WorkflowBuilder("wf", "Workflow", "a test workflow", z.object({ x: z.number() }), any);

function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ValidationError);
    return (err as ValidationError).issues;
  }
  assert.unreachable("expected a ValidationError");
  return [];
}

test("pipe and parallel build groups in order; the plan lists them with mode and dependencies", () => {
  const wf = builder()
    .pipe(mk("a"))
    .parallel([mk("b", z.object({}), ["a"]), mk("c")])
    .pipe(batch)
    .pipe(mk("d", z.object({}), ["b", "c"]))
    .build();
  assert.equal(wf.getStageIds(), ["a", "b", "c", "batch", "d"]);
  assert.equal(
    wf.groups.map((g) => [g.index, g.parallel, g.stages.map((s) => s.id)]),
    [
      [0, false, ["a"]],
      [1, true, ["b", "c"]],
      [2, false, ["batch"]],
      [3, false, ["d"]],
    ],
  );
  assert.equal(wf.getExecutionPlan(), [
    { groupIndex: 0, parallel: false, stages: [{ id: "a", name: "Stage a", mode: "sync", dependencies: [] }] },
    {
      groupIndex: 1,
      parallel: true,
      stages: [
        { id: "b", name: "Stage b", mode: "sync", dependencies: ["a"] },
        { id: "c", name: "Stage c", mode: "sync", dependencies: [] },
      ],
    },
    { groupIndex: 2, parallel: false, stages: [{ id: "batch", name: "Batch", mode: "async-batch", dependencies: [] }] },
    { groupIndex: 3, parallel: false, stages: [{ id: "d", name: "Stage d", mode: "sync", dependencies: ["b", "c"] }] },
  ]);
});

test("getStage and getGroupIndex find stages; unknown ids give undefined and -1", () => {
  const wf = builder()
    .pipe(mk("a"))
    .parallel([mk("b"), mk("c")])
    .build();
  assert.is(wf.getStage("c")?.id, "c");
  assert.is(wf.getStage("zz"), undefined);
  assert.is(wf.getGroupIndex("a"), 0);
  assert.is(wf.getGroupIndex("c"), 1);
  assert.is(wf.getGroupIndex("zz"), -1);
});

test("a parallel group of one stage stays parallel (its output is keyed by stage id)", () => {
  const wf = builder()
    .parallel([mk("only")])
    .build();
  assert.is(wf.groups[0]!.parallel, true);
});

test("the built workflow is immutable and builders can branch without affecting each other", () => {
  const base = builder().pipe(mk("a"));
  const left = base.pipe(mk("l")).build();
  const right = base.pipe(mk("r")).build();
  assert.equal(left.getStageIds(), ["a", "l"]);
  assert.equal(right.getStageIds(), ["a", "r"]);
  assert.ok(Object.isFrozen(left));
  assert.ok(Object.isFrozen(left.groups));
  const ids = left.getStageIds();
  ids.push("hacked");
  assert.equal(left.getStageIds(), ["a", "l"]);
});

test("getDefaultConfig parses each stage's config from {} (its defaults)", () => {
  const wf = builder()
    .pipe(mk("a", z.object({ limit: z.number().default(10), nested: z.object({ on: z.boolean().default(true) }).default({ on: true }) })))
    .pipe(mk("b"))
    .build();
  assert.equal(wf.getDefaultConfig(), { a: { limit: 10, nested: { on: true } }, b: {} });
});

test("getDefaultConfig leaves out stages whose config has required fields", () => {
  const wf = builder()
    .pipe(mk("a", z.object({ apiKey: z.string() })))
    .pipe(mk("b", z.object({ n: z.number().default(1) })))
    .build();
  assert.equal(wf.getDefaultConfig(), { b: { n: 1 } });
});

test("validateConfig defaults missing stages and fields", () => {
  const wf = builder()
    .pipe(mk("a", z.object({ limit: z.number().default(10), mode: z.enum(["fast", "slow"]).default("fast") })))
    .pipe(mk("b"))
    .build();
  assert.equal(wf.validateConfig({ a: { mode: "slow" } }), { success: true, config: { a: { limit: 10, mode: "slow" }, b: {} } });
  assert.equal(wf.validateConfig(undefined), { success: true, config: { a: { limit: 10, mode: "fast" }, b: {} } });
});

test("validateConfig issues name the stage and the dotted field path", () => {
  const wf = builder()
    .pipe(mk("a", z.object({ limits: z.object({ max: z.number().max(100) }) })))
    .pipe(mk("b", z.object({ apiKey: z.string() })))
    .build();
  const r = wf.validateConfig({ a: { limits: { max: 1000 } } });
  assert.is(r.success, false);
  if (r.success) return;
  assert.equal(
    r.issues.map((i) => [i.stageId, i.path]),
    [
      ["a", "limits.max"],
      ["b", "apiKey"],
    ],
  );
  assert.ok(r.issues.every((i) => i.message.length > 0));
});

test("validateConfig flags config for a stage the workflow does not have (a typo would silently use defaults)", () => {
  const wf = builder().pipe(mk("summarize")).build();
  const r = wf.validateConfig({ sumarize: { x: 1 } });
  assert.is(r.success, false);
  if (r.success) return;
  assert.equal(r.issues[0]!.stageId, "sumarize");
  assert.match(r.issues[0]!.message, /unknown stage "sumarize".*summarize/);
});

test("validateConfig refuses a non-object config", () => {
  const wf = builder().pipe(mk("a")).build();
  for (const bad of [[], "x", 3]) {
    const r = wf.validateConfig(bad);
    assert.is(r.success, false, JSON.stringify(bad));
  }
});

test("duplicate stage ids are refused, in a later group or within one parallel group", () => {
  assert.match(issuesOf(() => builder().pipe(mk("a")).pipe(mk("a")))[0]!.message, /duplicate stage id "a"/);
  assert.equal(
    issuesOf(() => builder().parallel([mk("x"), mk("y"), mk("x")])).map((i) => i.path),
    ["groups.0.stages.2.id"],
  );
});

test("an empty workflow cannot be built and an empty parallel group is refused", () => {
  assert.match(issuesOf(() => builder().build())[0]!.message, /at least one stage/);
  assert.equal(
    issuesOf(() => builder().pipe(mk("a")).parallel([])).map((i) => i.path),
    ["groups.1"],
  );
});

test("dependencies must name a stage of an EARLIER group", () => {
  const later = issuesOf(() => builder().pipe(mk("a", z.object({}), ["b"])));
  assert.match(later[0]!.message, /depends on "b", which is not in an earlier group/);
  const sibling = issuesOf(() => builder().parallel([mk("x"), mk("y", z.object({}), ["x"])]));
  assert.match(sibling[0]!.message, /depends on "x", which is in the same parallel group/);
  const fine = builder()
    .pipe(mk("x"))
    .parallel([mk("y", z.object({}), ["x"])])
    .build();
  assert.equal(fine.getStageIds(), ["x", "y"]);
});

test("things that are not stages, and bad workflow ids or schemas, are refused", () => {
  assert.match(issuesOf(() => builder().pipe({ id: "a" } as never))[0]!.message, /not a stage/);
  assert.equal(
    issuesOf(() => new WorkflowBuilder("bad id", "", "", z.any(), "x" as never)).map((i) => i.path),
    ["id", "name", "outputSchema"],
  );
});

test("hand-built stages (plain objects satisfying Stage) are accepted", () => {
  const plain = { ...mk("plain"), dependencies: [] };
  assert.equal(builder().pipe(plain).build().getStageIds(), ["plain"]);
});

test.run();

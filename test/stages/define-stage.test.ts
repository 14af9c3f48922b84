import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { InvalidStateError, JetflowError, ValidationError } from "../../src/contract/errors.js";
import { DEFAULT_RETRY_POLICY, NonRetryableStageError, defineAsyncBatchStage, defineStage } from "../../src/stages/index.js";
import type { StageContext } from "../../src/contract/stage-types.js";

const schemas = {
  input: z.object({ text: z.string() }),
  output: z.object({ words: z.number() }),
  config: z.object({ min: z.number().default(1) }),
};

function validationIssues(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ValidationError);
    return (err as ValidationError).issues;
  }
  assert.unreachable("expected a ValidationError");
  return [];
}

function ctxOf<I, C>(input: I, config: C): StageContext<I, C> {
  return { input, config, stageId: "s", resumeState: undefined } as unknown as StageContext<I, C>;
}

test("defineStage fills defaults: no dependencies, default retry policy, sync mode", () => {
  const s = defineStage({
    id: "count",
    name: "Count",
    schemas,
    execute: async (ctx) => ({ output: { words: ctx.input.text.split(" ").length } }),
  });
  assert.equal(s.id, "count");
  assert.equal(s.dependencies, []);
  assert.equal(s.retry, { maxAttempts: 3, backoffMs: 1000, maxBackoffMs: 60_000 });
  assert.equal(s.retry, DEFAULT_RETRY_POLICY);
  assert.is(s.mode, "sync");
  assert.is(s.checkCompletion, undefined);
});

test("defineStage keeps a partial retry policy and fills the rest", () => {
  const s = defineStage({ id: "r", name: "R", schemas, retry: { maxAttempts: 7 }, execute: async () => ({ output: { words: 0 } }) });
  assert.equal(s.retry, { maxAttempts: 7, backoffMs: 1000, maxBackoffMs: 60_000 });
  const u = defineStage({
    id: "u",
    name: "U",
    schemas,
    retry: { maxAttempts: undefined, backoffMs: 5 },
    execute: async () => ({ output: { words: 0 } }),
  });
  assert.equal(u.retry, { maxAttempts: 3, backoffMs: 5, maxBackoffMs: 60_000 });
});

test("the defined stage is immutable (later edits cannot change a running workflow)", () => {
  const deps = ["a"];
  const s = defineStage({ id: "b", name: "B", dependencies: deps, schemas, execute: async () => ({ output: { words: 0 } }) });
  deps.push("c");
  assert.equal(s.dependencies, ["a"]);
  assert.ok(Object.isFrozen(s));
  assert.throws(() => {
    (s as { id: string }).id = "x";
  });
});

test("execute runs the user's function with the typed context", async () => {
  const s = defineStage({
    id: "count",
    name: "Count",
    schemas,
    execute: async (ctx) => ({ output: { words: ctx.input.text.split(" ").filter((w) => w.length >= ctx.config.min).length } }),
  });
  const out = await s.execute(ctxOf({ text: "a bb ccc" }, { min: 2 }) as never);
  assert.equal(out, { output: { words: 2 } });
});

test("a sync stage that returns a suspension fails loudly instead of hanging forever", async () => {
  const s = defineStage({
    id: "oops",
    name: "Oops",
    schemas,
    execute: (async () => ({ suspended: true, state: {}, pollConfig: { pollInterval: 1, maxWaitTime: 1 } })) as never,
  });
  try {
    await s.execute(ctxOf({ text: "" }, { min: 1 }) as never);
    assert.unreachable("should throw");
  } catch (err) {
    assert.instance(err, InvalidStateError);
    assert.match((err as Error).message, /defineAsyncBatchStage/);
  }
});

test("stage ids: letters, digits, '_' and '-'; dots, colons, slashes, spaces and empty ids are refused", () => {
  for (const id of ["a", "fetch-doc", "Word_Stats2", "0start"]) {
    assert.is(defineStage({ id, name: "x", schemas, execute: async () => ({ output: { words: 0 } }) }).id, id);
  }
  for (const id of ["", "a.b", "run:1", "a/b", "has space", "-lead", "x".repeat(65)]) {
    const issues = validationIssues(() => defineStage({ id, name: "x", schemas, execute: async () => ({ output: { words: 0 } }) }));
    assert.equal(
      issues.map((i) => i.path),
      ["id"],
      `id ${JSON.stringify(id)}`,
    );
  }
});

test("every problem of a definition is reported at once, each naming its field", () => {
  const issues = validationIssues(() =>
    defineStage({
      id: "bad id",
      name: "",
      schemas: { input: 42, output: undefined, config: "none" } as never,
      retry: { maxAttempts: 0, backoffMs: -1 },
      dependencies: ["ok", "ok", "no.dots"],
      execute: "nope" as never,
    }),
  );
  const paths = issues.map((i) => i.path).sort();
  assert.equal(paths, [
    "dependencies.1",
    "dependencies.2",
    "execute",
    "id",
    "name",
    "retry.backoffMs",
    "retry.maxAttempts",
    "schemas.config",
    "schemas.input",
    "schemas.output",
  ]);
});

test("missing schemas object is a validation error, not a TypeError", () => {
  const issues = validationIssues(() => defineStage({ id: "a", name: "A", execute: async () => ({ output: {} }) } as never));
  assert.ok(issues.some((i) => i.path === "schemas"));
});

test("a stage cannot depend on itself", () => {
  const issues = validationIssues(() =>
    defineStage({ id: "a", name: "A", dependencies: ["a"], schemas, execute: async () => ({ output: { words: 0 } }) }),
  );
  assert.equal(issues, [{ path: "dependencies.0", message: "a stage cannot depend on itself" }]);
});

test("maxBackoffMs below backoffMs is refused", () => {
  const issues = validationIssues(() =>
    defineStage({
      id: "a",
      name: "A",
      retry: { backoffMs: 5000, maxBackoffMs: 10 },
      schemas,
      execute: async () => ({ output: { words: 0 } }),
    }),
  );
  assert.equal(
    issues.map((i) => i.path),
    ["retry.maxBackoffMs"],
  );
});

test("defineStage refuses checkCompletion and async mode (they belong to defineAsyncBatchStage)", () => {
  const issues = validationIssues(() =>
    defineStage({
      id: "a",
      name: "A",
      mode: "async-batch",
      schemas,
      execute: async () => ({ output: { words: 0 } }),
      checkCompletion: async () => ({ ready: false }),
    } as never),
  );
  assert.equal(issues.map((i) => i.path).sort(), ["checkCompletion", "mode"]);
});

test("defineAsyncBatchStage requires checkCompletion and sets mode async-batch", async () => {
  const issues = validationIssues(() =>
    defineAsyncBatchStage({ id: "b", name: "B", schemas, execute: async () => ({ output: { words: 0 } }) } as never),
  );
  assert.equal(
    issues.map((i) => i.path),
    ["checkCompletion"],
  );

  const s = defineAsyncBatchStage({
    id: "batch",
    name: "Batch",
    schemas: { ...schemas, input: "none" },
    execute: async () => ({ suspended: true, state: { batchId: "b-1" }, pollConfig: { pollInterval: 10, maxWaitTime: 1000 } }),
    checkCompletion: async (state) => (state.batchId === "b-1" ? { ready: true, output: { words: 3 } } : { ready: false }),
  });
  assert.is(s.mode, "async-batch");
  assert.equal(s.retry, DEFAULT_RETRY_POLICY);
  const suspended = await s.execute(ctxOf(undefined, { min: 1 }) as never);
  assert.equal(suspended, { suspended: true, state: { batchId: "b-1" }, pollConfig: { pollInterval: 10, maxWaitTime: 1000 } });
  assert.equal(await s.checkCompletion!({ batchId: "b-1" }, {} as never), { ready: true, output: { words: 3 } });
});

test("defineAsyncBatchStage refuses mode sync", () => {
  const issues = validationIssues(() =>
    defineAsyncBatchStage({
      id: "b",
      name: "B",
      mode: "sync",
      schemas,
      execute: async () => ({ output: { words: 0 } }),
      checkCompletion: async () => ({ ready: false }),
    } as never),
  );
  assert.equal(
    issues.map((i) => i.path),
    ["mode"],
  );
});

test("the error message names the stage", () => {
  try {
    defineStage({ id: "summarize", name: "", schemas, execute: async () => ({ output: { words: 0 } }) });
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /summarize/);
    assert.match((err as Error).message, /name/);
    assert.is((err as ValidationError).code, "VALIDATION");
  }
});

test("NonRetryableStageError is a JetflowError flagged retryable: false", () => {
  const err = new NonRetryableStageError("document gone", { id: "d1" });
  assert.instance(err, JetflowError);
  assert.is(err.retryable, false);
  assert.is(err.code, "STAGE_FAILED");
  assert.is(err.name, "NonRetryableStageError");
  assert.equal(err.data, { id: "d1" });
});

test.run();

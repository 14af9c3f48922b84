// Type-level behaviour: the @ts-expect-error lines fail typecheck if inference regresses.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { WorkflowBuilder, type WorkflowContextOf } from "../../src/builder/index.js";
import { createStageIds, defineStage } from "../../src/stages/index.js";

const count = defineStage({
  id: "count",
  name: "Count",
  schemas: {
    input: z.object({ text: z.string() }),
    output: z.object({ words: z.number() }),
    config: z.object({ min: z.number().default(1) }),
  },
  async execute(ctx) {
    const text: string = ctx.input.text;
    const min: number = ctx.config.min;
    // @ts-expect-error input has no such field
    void ctx.input.nope;
    return { output: { words: text.split(" ").filter((w) => w.length >= min).length } };
  },
});
const upper = defineStage({
  id: "upper",
  name: "Upper",
  schemas: { input: "none", output: z.object({ text: z.string() }), config: z.object({}) },
  async execute(ctx) {
    const nothing: undefined = ctx.input;
    void nothing;
    return { output: { text: "X" } };
  },
});

const wf = new WorkflowBuilder("typed", "Typed", "", z.object({ text: z.string() }), z.object({ line: z.string() }))
  .pipe(count)
  .parallel([
    upper,
    defineStage({
      id: "double",
      name: "Double",
      schemas: { input: "none", output: z.object({ n: z.number() }), config: z.object({}) },
      async execute(ctx) {
        const words: number = ctx.require("count").words;
        // @ts-expect-error words is a number
        const wrong: string = ctx.require("count").words;
        void wrong;
        return { output: { n: words * 2 } };
      },
    }),
  ])
  .pipe(
    defineStage({
      id: "report",
      name: "Report",
      schemas: { input: "none", output: z.object({ line: z.string() }), config: z.object({}) },
      async execute(ctx) {
        const n: number = ctx.require("double").n;
        const t: string = ctx.require("upper").text;
        return { output: { line: `${t}${n}` } };
      },
    }),
  )
  .build();

test("stage ids and context types flow from the builder to helpers", () => {
  const ids = createStageIds(wf);
  const r: "report" = ids.report;
  // @ts-expect-error not a stage of this workflow
  void ids.missing;
  type Ctx = WorkflowContextOf<typeof wf>;
  const sample: Ctx["double"] = { n: 1 };
  assert.is(r, "report");
  assert.equal(sample, { n: 1 });
  assert.equal(wf.getStageIds(), ["count", "upper", "double", "report"]);
});

test.run();

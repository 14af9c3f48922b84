import { randomUUID } from "node:crypto";
import { deepStrictEqual as eq } from "node:assert/strict";
import type { AICallRecord } from "../../ports/records.js";
import { type ConformanceCase, at, defineCases } from "./case.js";
import { type PersistenceUnderTest, newRun } from "./persistence-fixtures.js";

function call(topic: string, ms: number, over: Partial<AICallRecord> = {}): AICallRecord {
  return {
    id: randomUUID(),
    topic,
    model: "m-1",
    callType: "chat",
    inputTokens: 10,
    outputTokens: 5,
    cost: 0.0125,
    meta: { t: 0.2 },
    createdAt: at(ms),
    ...over,
  };
}

/** AI call accounting: listing by topic, idempotent recording, unknown costs, grouped totals. */
export function persistenceAICallCases(factory: () => Promise<PersistenceUnderTest>): ConformanceCase[] {
  return defineCases("persistence", factory, {
    "AI calls are listed by topic prefix": async ({ persistence: p }) => {
      const c1 = call("workflow.r1.stage.a", 0);
      const c2 = call("workflow.r1.stage.b", 1);
      const c3 = call("workflow.r2.stage.a", 2);
      for (const c of [c2, c3, c1]) await p.recordAICall(c);
      eq(await p.listAICalls("workflow.r1."), [c1, c2]);
      eq((await p.listAICalls("workflow.")).length, 3);
    },

    "an AI call recorded again under its id is stored once; an unknown cost stays null": async ({ persistence: p }) => {
      const c = call("workflow.r1.stage.a", 0, { id: "workflow.r1.stage.a#t:1:0", cost: null });
      await p.recordAICall(c);
      await p.transaction((tx) => tx.recordAICall({ ...c, inputTokens: 999 }));
      eq(await p.listAICalls("workflow.r1."), [c]);
    },

    "AI call totals group by workflow, run, stage and model, costliest first, filtered by time and topic": async ({ persistence: p }) => {
      const r1 = newRun({ workflowId: "wf-a" });
      const r2 = newRun({ workflowId: "wf-b" });
      await p.createRun(r1);
      await p.createRun(r2);
      const t = (run: string, stage: string) => `workflow.${run}.stage.${stage}`;
      await p.recordAICall(call(t(r1.id, "extract"), 0, { model: "big", inputTokens: 100, outputTokens: 10, cost: 1 }));
      await p.recordAICall(call(t(r1.id, "extract"), 1, { model: "small", cost: 0.25, meta: { status: "error" } }));
      await p.recordAICall(call(t(r1.id, "sum.up"), 2, { model: "mystery", cost: null }));
      await p.recordAICall(call(t(r2.id, "extract"), 3, { model: "small", cost: 0.5 }));
      const row = (key: string, calls: number, inputTokens: number, outputTokens: number, cost: number, unknown = 0, errors = 0) => ({
        key,
        calls,
        inputTokens,
        outputTokens,
        cost,
        unknownCostCalls: unknown,
        errors,
      });
      eq(await p.summarizeAICalls({ by: "workflow" }), [row("wf-a", 3, 120, 20, 1.25, 1, 1), row("wf-b", 1, 10, 5, 0.5)]);
      eq(await p.summarizeAICalls({ by: "stage", topicPrefix: `workflow.${r1.id}.` }), [
        row("extract", 2, 110, 15, 1.25, 0, 1),
        row("sum.up", 1, 10, 5, 0, 1),
      ]);
      eq(await p.summarizeAICalls({ by: "model", since: at(1) }), [row("small", 2, 20, 10, 0.75, 0, 1), row("mystery", 1, 10, 5, 0, 1)]);
      eq(await p.summarizeAICalls({ by: "run", since: at(3) }), [row(r2.id, 1, 10, 5, 0.5)]);
      eq(await p.summarizeAICalls({ by: "run", since: at(4) }), []);
    },
  });
}

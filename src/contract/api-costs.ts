/**
 * Request and reply schemas of the AI cost endpoints of the submission API (`runs.costs`,
 * `costs.summary`), over the calls `jetflow/ai` records. Costs are USD; calls of a model without a
 * catalogue price count in `unknownCostCalls`, never in `cost`.
 */
import { z } from "zod";
import { identifier } from "./storable.js";

const isoDate = z.string().datetime({ offset: true });

/** Totals of one group of AI calls (a stage, a model, a workflow, a run, or all of them). */
export const AICostRow = z.object({
  key: z.string(),
  calls: z.number().int().min(0),
  inputTokens: z.number().int().min(0),
  outputTokens: z.number().int().min(0),
  cost: z.number().min(0),
  unknownCostCalls: z.number().int().min(0),
  errors: z.number().int().min(0),
});
/** Totals of one group of AI calls. */
export type AICostRow = z.output<typeof AICostRow>;

/** `runs.costs` request: one run's AI calls. */
export const RunCostsRequest = z.object({ workflowRunId: identifier(200) });
/** `runs.costs` reply: the run's total and its totals per stage and per model, costliest first. */
export const RunCostsReply = z.object({
  workflowRunId: z.string(),
  total: AICostRow,
  byStage: z.array(AICostRow),
  byModel: z.array(AICostRow),
});

/** `costs.summary` request: AI costs since an instant, grouped. */
export const CostsSummaryRequest = z.object({
  by: z.enum(["workflow", "model", "stage", "run"]).default("workflow"),
  /** Calls made at or after this instant; default: the last 7 days. */
  since: isoDate.refine((s) => !s.startsWith("0000"), { error: "year must be 0001 or later" }).optional(),
  /** Largest number of groups returned (the costliest). */
  limit: z.number().int().min(1).max(1000).default(100),
});
/** `costs.summary` reply. */
export const CostsSummaryReply = z.object({
  by: z.enum(["workflow", "model", "stage", "run"]),
  since: isoDate,
  total: AICostRow,
  rows: z.array(AICostRow),
});

/** Sums rows into one (key `total`). */
export function totalOf(rows: readonly AICostRow[]): AICostRow {
  const t: AICostRow = { key: "total", calls: 0, inputTokens: 0, outputTokens: 0, cost: 0, unknownCostCalls: 0, errors: 0 };
  for (const r of rows) {
    t.calls += r.calls;
    t.inputTokens += r.inputTokens;
    t.outputTokens += r.outputTokens;
    t.cost += r.cost;
    t.unknownCostCalls += r.unknownCostCalls;
    t.errors += r.errors;
  }
  // Summing float costs leaves noise (0.8300000000000001): keep picodollar precision, as stored.
  t.cost = Math.round(t.cost * 1e12) / 1e12;
  return t;
}

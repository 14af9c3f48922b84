import type { z } from "zod";
import type { AnyStage } from "../contract/stage-types.js";
import type { ConfigIssue, ConfigValidation, ExecutionGroup, ExecutionPlanEntry } from "./types.js";
import type { TypedWorkflow } from "./workflow-builder.js";
import { issuesFromZod } from "../contract/validation.js";

interface WorkflowParts<TInput, TOutput> {
  id: string;
  name: string;
  description: string;
  inputSchema: z.ZodType<TInput>;
  outputSchema: z.ZodType<TOutput>;
  groups: ExecutionGroup[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Freezes validated groups into the immutable `Workflow` the kernel runs. */
export function buildWorkflow<TInput, TOutput, TCtx extends Record<string, unknown>>(
  parts: WorkflowParts<TInput, TOutput>,
): TypedWorkflow<TInput, TOutput, TCtx> {
  const groups = Object.freeze(parts.groups.map((g) => Object.freeze({ ...g, stages: Object.freeze([...g.stages]) })));
  const stages = new Map<string, { stage: AnyStage; groupIndex: number }>();
  for (const g of groups) for (const s of g.stages) stages.set(s.id, { stage: s, groupIndex: g.index });
  const ids = [...stages.keys()];

  const workflow: TypedWorkflow<TInput, TOutput, TCtx> = {
    id: parts.id,
    name: parts.name,
    description: parts.description,
    inputSchema: parts.inputSchema,
    outputSchema: parts.outputSchema,
    groups,
    getStageIds: () => [...ids],
    getStage: (stageId) => stages.get(stageId)?.stage,
    getGroupIndex: (stageId) => stages.get(stageId)?.groupIndex ?? -1,
    getExecutionPlan: (): ExecutionPlanEntry[] =>
      groups.map((g) => ({
        groupIndex: g.index,
        parallel: g.parallel,
        stages: g.stages.map((s) => ({ id: s.id, name: s.name, mode: s.mode, dependencies: [...s.dependencies] })),
      })),
    getDefaultConfig() {
      // Stages whose config has required fields without defaults have no default config; they
      // are left out here and `validateConfig` names the missing fields.
      const out: Record<string, unknown> = {};
      for (const [id, { stage }] of stages) {
        const parsed = (stage.schemas.config as z.ZodType).safeParse({});
        if (parsed.success) out[id] = parsed.data;
      }
      return out;
    },
    validateConfig(config: unknown): ConfigValidation {
      if (config !== undefined && config !== null && !isPlainObject(config)) {
        return { success: false, issues: [{ stageId: "", path: "", message: "config must be an object keyed by stage id" }] };
      }
      const given = (config ?? {}) as Record<string, unknown>;
      const issues: ConfigIssue[] = [];
      for (const key of Object.keys(given)) {
        // A typo in a stage id would otherwise silently run that stage with its defaults.
        if (!stages.has(key)) issues.push({ stageId: key, path: "", message: `unknown stage "${key}" (stages: ${ids.join(", ")})` });
      }
      const out: Record<string, unknown> = {};
      for (const [id, { stage }] of stages) {
        const parsed = (stage.schemas.config as z.ZodType).safeParse(given[id] ?? {});
        if (parsed.success) out[id] = parsed.data;
        else for (const i of issuesFromZod(parsed.error)) issues.push({ stageId: id, ...i });
      }
      return issues.length > 0 ? { success: false, issues } : { success: true, config: out };
    },
  };
  return Object.freeze(workflow);
}

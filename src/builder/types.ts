import type { z } from "zod";
import type { AnyStage } from "../contract/stage-types.js";

/** Stages that run together; the run advances when all of them completed. */
export interface ExecutionGroup {
  index: number;
  parallel: boolean;
  stages: readonly AnyStage[];
}

/** One stage's place in a workflow's execution plan. */
export interface ExecutionPlanEntry {
  groupIndex: number;
  parallel: boolean;
  stages: { id: string; name: string; mode: AnyStage["mode"]; dependencies: readonly string[] }[];
}

/** A problem found while validating a run's per-stage config. */
export interface ConfigIssue {
  stageId: string;
  /** Dotted path inside the stage's config, e.g. "limits.max". */
  path: string;
  message: string;
}

/** Result of validating a run's per-stage config: the defaulted config, or the issues. */
export type ConfigValidation = { success: true; config: Record<string, unknown> } | { success: false; issues: ConfigIssue[] };

/** A built, immutable workflow: a linear list of execution groups. */
export interface Workflow<TInput = unknown, TOutput = unknown> {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly inputSchema: z.ZodType<TInput>;
  readonly outputSchema: z.ZodType<TOutput>;
  readonly groups: readonly ExecutionGroup[];
  getStageIds(): string[];
  getStage(stageId: string): AnyStage | undefined;
  /** Index of the group holding `stageId`, or -1. */
  getGroupIndex(stageId: string): number;
  getExecutionPlan(): ExecutionPlanEntry[];
  /** Each stage's config schema parsed from `{}` (its defaults), keyed by stage id. */
  getDefaultConfig(): Record<string, unknown>;
  /** Validates (and defaults) a per-stage config object; issues name the stage and field. */
  validateConfig(config: unknown): ConfigValidation;
}

/** A workflow of any input and output type (registries and adapters hold these). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyWorkflow = Workflow<any, any>;

import type { z } from "zod";
import { ValidationError, type ValidationIssue } from "../contract/errors.js";
import { STAGE_ID_PATTERN } from "../contract/stage-id.js";
import type { AnyStage, Stage } from "../contract/stage-types.js";
import { buildWorkflow } from "./built-workflow.js";
import type { ExecutionGroup, Workflow } from "./types.js";

/** Workflow ids: 1-128 letters, digits, `.`, `_` or `-`, starting with a letter or digit. */
export const WORKFLOW_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The output type of a stage, from its output schema. */
export type StageOutputOf<S> = S extends { schemas: { output: infer O } } ? (O extends z.ZodType ? z.output<O> : unknown) : unknown;

/** Adds `stage id → output` entries of `S` (one stage or a tuple) to a context type. */
export type WithStageOutputs<TCtx, S extends AnyStage> = TCtx & { [E in S as E["id"]]: StageOutputOf<E> };

/**
 * A built workflow that also remembers, at the type level only, the outputs of its stages keyed
 * by id (`__context` is never set at runtime). `createStageIds` and `WorkflowContextOf` read it.
 */
export interface TypedWorkflow<TInput, TOutput, TCtx extends Record<string, unknown> = Record<string, unknown>> extends Workflow<
  TInput,
  TOutput
> {
  readonly __context?: TCtx;
}

/** `stage id → output` of a workflow or builder, for typing `ctx.require` in hand-written stages. */
export type WorkflowContextOf<W> = W extends { readonly __context?: infer C } ? NonNullable<C> : Record<string, unknown>;

/**
 * Chains stages into a linear list of execution groups: `pipe(stage)` adds a group of one,
 * `parallel([a, b])` a group whose stages run concurrently (their outputs are keyed by stage id).
 * Each call returns a new builder (a builder can be branched safely); shape errors (duplicate
 * ids, empty groups, dependencies that are not in an earlier group) throw a ValidationError at
 * the call that introduces them.
 */
export class WorkflowBuilder<
  TInput,
  TOutput,
  // eslint-disable-next-line @typescript-eslint/ban-types
  TCtx extends Record<string, unknown> = {},
> {
  /** Type-level only: the accumulated `stage id → output` context. */
  declare readonly __context?: TCtx;
  private groups: readonly PendingGroup[] = [];

  constructor(
    readonly id: string,
    readonly name: string,
    readonly description: string,
    readonly inputSchema: z.ZodType<TInput>,
    readonly outputSchema: z.ZodType<TOutput>,
  ) {
    const issues: ValidationIssue[] = [];
    if (typeof id !== "string" || !WORKFLOW_ID_PATTERN.test(id)) {
      issues.push({
        path: "id",
        message: `${JSON.stringify(id)} must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      });
    }
    if (typeof name !== "string" || name.trim() === "") issues.push({ path: "name", message: "must be a non-empty string" });
    if (typeof description !== "string") issues.push({ path: "description", message: "must be a string" });
    if (!isSchema(inputSchema)) issues.push({ path: "inputSchema", message: "must be a zod schema" });
    if (!isSchema(outputSchema)) issues.push({ path: "outputSchema", message: "must be a zod schema" });
    if (issues.length > 0) throw new ValidationError(`invalid workflow ${JSON.stringify(id)}`, issues);
  }

  /** Appends a group holding one stage. */
  pipe<TId extends string, O extends z.ZodType>(
    stage: Stage<any, O, any, TCtx, any> & { readonly id: TId },
  ): WorkflowBuilder<TInput, TOutput, TCtx & { [K in TId]: z.output<O> }> {
    return this.addGroup([stage], false);
  }

  /** Appends a group whose stages run concurrently; the next group sees `{ [stageId]: output }`. */
  parallel<const S extends readonly AnyStage[]>(
    stages: S & { readonly [K in keyof S]: Stage<any, any, any, TCtx, any> },
  ): WorkflowBuilder<TInput, TOutput, WithStageOutputs<TCtx, S[number]>> {
    return this.addGroup(stages as readonly AnyStage[], true);
  }

  /** Freezes the groups into a `Workflow`; throws when there is no stage. */
  build(): TypedWorkflow<TInput, TOutput, TCtx> {
    if (this.groups.length === 0) {
      throw new ValidationError(`invalid workflow "${this.id}"`, [
        { path: "groups", message: "a workflow needs at least one stage (call pipe or parallel)" },
      ]);
    }
    const groups: ExecutionGroup[] = this.groups.map((g, index) => ({ index, parallel: g.parallel, stages: g.stages }));
    return buildWorkflow<TInput, TOutput, TCtx>({
      id: this.id,
      name: this.name,
      description: this.description,
      inputSchema: this.inputSchema,
      outputSchema: this.outputSchema,
      groups,
    });
  }

  private addGroup<R extends Record<string, unknown>>(stages: readonly AnyStage[], parallel: boolean): WorkflowBuilder<TInput, TOutput, R> {
    const where = `groups.${this.groups.length}`;
    const issues: ValidationIssue[] = [];
    if (!Array.isArray(stages) || stages.length === 0) {
      throw new ValidationError(`invalid workflow "${this.id}"`, [{ path: where, message: "a parallel group needs at least one stage" }]);
    }
    const earlier = new Set(this.groups.flatMap((g) => g.stages.map((s) => s.id)));
    const inGroup = new Set<string>();
    stages.forEach((stage, i) => {
      const at = `${where}.stages.${i}`;
      if (!looksLikeStage(stage)) {
        issues.push({ path: at, message: "is not a stage (use defineStage or defineAsyncBatchStage)" });
        return;
      }
      if (!STAGE_ID_PATTERN.test(stage.id))
        issues.push({ path: `${at}.id`, message: `${JSON.stringify(stage.id)} is not a valid stage id` });
      if (earlier.has(stage.id) || inGroup.has(stage.id)) issues.push({ path: `${at}.id`, message: `duplicate stage id "${stage.id}"` });
      for (const dep of stage.dependencies ?? []) {
        if (earlier.has(dep)) continue;
        const why =
          inGroup.has(dep) || stages.some((s) => s !== stage && s?.id === dep)
            ? "is in the same parallel group"
            : "is not in an earlier group";
        issues.push({ path: `${at}.dependencies`, message: `stage "${stage.id}" depends on "${dep}", which ${why}` });
      }
      inGroup.add(stage.id);
    });
    if (issues.length > 0) throw new ValidationError(`invalid workflow "${this.id}"`, issues);
    const next = new WorkflowBuilder<TInput, TOutput, R>(this.id, this.name, this.description, this.inputSchema, this.outputSchema);
    next.groups = [...this.groups, { parallel, stages: Object.freeze([...stages]) }];
    return next;
  }
}

/** A group as the builder collects it (indexed at build time). */
interface PendingGroup {
  parallel: boolean;
  stages: readonly AnyStage[];
}

function isSchema(s: unknown): s is z.ZodType {
  return typeof s === "object" && s !== null && typeof (s as { safeParse?: unknown }).safeParse === "function";
}

function looksLikeStage(s: unknown): s is AnyStage {
  if (typeof s !== "object" || s === null) return false;
  const st = s as Partial<AnyStage>;
  return (
    typeof st.id === "string" &&
    typeof st.execute === "function" &&
    typeof st.schemas === "object" &&
    st.schemas !== null &&
    isSchema(st.schemas.output) &&
    isSchema(st.schemas.config)
  );
}

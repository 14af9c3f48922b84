import { type StageLimits, stageLimitIssues } from "./stage-limits.js";
import type { z } from "zod";
import { InvalidStateError, ValidationError, type ValidationIssue } from "./errors.js";
import type {
  CheckContext,
  CompletedOutcome,
  CompletionCheck,
  InferSchema,
  RetryPolicy,
  SchemaOrNone,
  Stage,
  StageContext,
  StageOutcome,
  StageSchemas,
} from "./stage-types.js";
import { STAGE_ID_PATTERN } from "./stage-id.js";
import { DEFAULT_RETRY_POLICY } from "./failure-policy.js";

/** A stage whose id is known at the type level (so a builder can key its output by it). */
export type DefinedStage<
  TId extends string,
  I extends SchemaOrNone,
  O extends z.ZodType,
  C extends z.ZodType,
  TCtx extends Record<string, unknown> = Record<string, unknown>,
  TState = unknown,
> = Stage<I, O, C, TCtx, TState> & { readonly id: TId };

interface CommonDefinition<TId extends string, I extends SchemaOrNone, O extends z.ZodType, C extends z.ZodType> {
  /** Unique within its workflow; see `STAGE_ID_PATTERN`. */
  id: TId;
  name: string;
  description?: string;
  /** Stage ids this stage reads with `ctx.require`; each must sit in an earlier group. */
  dependencies?: readonly string[];
  schemas: StageSchemas<I, O, C>;
  /** Missing fields take `DEFAULT_RETRY_POLICY`'s values. */
  retry?: Partial<RetryPolicy>;
  /** Rate limit and concurrency key of its attempts, enforced across orchestrators (docs/flow-control.md). */
  limits?: StageLimits;
}

/** What `defineStage` takes: a stage that completes (or fails) within one execution. */
export interface SyncStageDefinition<
  TId extends string,
  I extends SchemaOrNone,
  O extends z.ZodType,
  C extends z.ZodType,
  TCtx extends Record<string, unknown>,
> extends CommonDefinition<TId, I, O, C> {
  mode?: "sync";
  execute(ctx: StageContext<InferSchema<I>, z.output<C>, TCtx, undefined>): Promise<CompletedOutcome<z.output<O>>>;
}

/** What `defineAsyncBatchStage` takes: a stage that may suspend and be resumed by `checkCompletion`. */
export interface AsyncBatchStageDefinition<
  TId extends string,
  I extends SchemaOrNone,
  O extends z.ZodType,
  C extends z.ZodType,
  TState,
  TCtx extends Record<string, unknown>,
> extends CommonDefinition<TId, I, O, C> {
  mode?: "async-batch";
  execute(ctx: StageContext<InferSchema<I>, z.output<C>, TCtx, TState>): Promise<StageOutcome<z.output<O>, TState>>;
  /** Asked by `stage.pollSuspended` whether the external work finished. */
  checkCompletion(state: TState, ctx: CheckContext<z.output<C>>): Promise<CompletionCheck<z.output<O>>>;
}

/**
 * Defines a synchronous stage: validates the definition and fills defaults (dependencies `[]`,
 * `DEFAULT_RETRY_POLICY`, mode "sync"). `ctx.input`, `ctx.config` and the returned output are
 * typed from the zod schemas. Throws a ValidationError naming every bad field.
 */
export function defineStage<
  const TId extends string,
  I extends SchemaOrNone,
  O extends z.ZodType,
  C extends z.ZodType,
  TCtx extends Record<string, unknown> = Record<string, unknown>,
>(def: SyncStageDefinition<TId, I, O, C, TCtx>): DefinedStage<TId, I, O, C, TCtx, undefined> {
  const issues = commonIssues(def, "sync");
  if (def.mode !== undefined && def.mode !== "sync") {
    issues.push({ path: "mode", message: `defineStage makes sync stages; use defineAsyncBatchStage for mode "${String(def.mode)}"` });
  }
  if ("checkCompletion" in def && (def as { checkCompletion?: unknown }).checkCompletion !== undefined) {
    issues.push({ path: "checkCompletion", message: "a sync stage cannot have checkCompletion; use defineAsyncBatchStage" });
  }
  throwIfAny(def, issues);
  const id = def.id;
  const execute = async (ctx: StageContext<InferSchema<I>, z.output<C>, TCtx, undefined>) => {
    const outcome = (await def.execute(ctx)) as StageOutcome<z.output<O>>;
    // A sync stage has no checkCompletion, so a suspension could never resume: refuse it loudly.
    if (outcome && typeof outcome === "object" && "suspended" in outcome && outcome.suspended === true) {
      throw new InvalidStateError(`stage "${id}" is a sync stage and cannot suspend; define it with defineAsyncBatchStage`);
    }
    return outcome;
  };
  return freezeStage(def, "sync", execute, undefined) as DefinedStage<TId, I, O, C, TCtx, undefined>;
}

/**
 * Defines an async-batch stage: `execute` may return `{ suspended: true, state, pollConfig }`
 * and `checkCompletion(state)` (required) later reports the output. Same validation and
 * defaults as `defineStage`, with mode "async-batch".
 */
export function defineAsyncBatchStage<
  const TId extends string,
  I extends SchemaOrNone,
  O extends z.ZodType,
  C extends z.ZodType,
  TState = unknown,
  TCtx extends Record<string, unknown> = Record<string, unknown>,
>(def: AsyncBatchStageDefinition<TId, I, O, C, TState, TCtx>): DefinedStage<TId, I, O, C, TCtx, TState> {
  const issues = commonIssues(def, "async-batch");
  if (def.mode !== undefined && def.mode !== "async-batch") {
    issues.push({
      path: "mode",
      message: `defineAsyncBatchStage makes async-batch stages; use defineStage for mode "${String(def.mode)}"`,
    });
  }
  if (typeof def.checkCompletion !== "function") {
    issues.push({ path: "checkCompletion", message: "an async-batch stage needs a checkCompletion function" });
  }
  throwIfAny(def, issues);
  const execute = (ctx: StageContext<InferSchema<I>, z.output<C>, TCtx, TState>) => def.execute(ctx);
  const check = (state: TState, ctx: CheckContext<z.output<C>>) => def.checkCompletion(state, ctx);
  return freezeStage(def, "async-batch", execute, check) as DefinedStage<TId, I, O, C, TCtx, TState>;
}

function isSchema(s: unknown): s is z.ZodType {
  // Duck-typed so schemas from another copy of zod still count.
  return typeof s === "object" && s !== null && typeof (s as { safeParse?: unknown }).safeParse === "function";
}

function commonIssues(
  def: CommonDefinition<string, SchemaOrNone, z.ZodType, z.ZodType> & { execute?: unknown },
  kind: string,
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (typeof def !== "object" || def === null) return [{ path: "", message: `a ${kind} stage definition must be an object` }];
  if (typeof def.id !== "string" || !STAGE_ID_PATTERN.test(def.id)) {
    issues.push({
      path: "id",
      message: `${JSON.stringify(def.id)} must be 1-64 letters, digits, '_' or '-', starting with a letter or digit`,
    });
  }
  if (typeof def.name !== "string" || def.name.trim() === "") issues.push({ path: "name", message: "must be a non-empty string" });
  if (def.description !== undefined && typeof def.description !== "string")
    issues.push({ path: "description", message: "must be a string" });
  const schemas = def.schemas as Partial<StageSchemas<SchemaOrNone, z.ZodType, z.ZodType>> | undefined;
  if (typeof schemas !== "object" || schemas === null) {
    issues.push({ path: "schemas", message: "must be { input, output, config } zod schemas" });
  } else {
    if (schemas.input !== "none" && !isSchema(schemas.input))
      issues.push({ path: "schemas.input", message: 'must be a zod schema or "none"' });
    if (!isSchema(schemas.output)) issues.push({ path: "schemas.output", message: "must be a zod schema" });
    if (!isSchema(schemas.config))
      issues.push({ path: "schemas.config", message: "must be a zod schema (z.object({}) when the stage takes no config)" });
  }
  if (typeof def.execute !== "function") issues.push({ path: "execute", message: "must be a function" });
  if (def.dependencies !== undefined) {
    if (!Array.isArray(def.dependencies)) {
      issues.push({ path: "dependencies", message: "must be an array of stage ids" });
    } else {
      const seen = new Set<string>();
      def.dependencies.forEach((d: unknown, i: number) => {
        if (typeof d !== "string" || !STAGE_ID_PATTERN.test(d))
          issues.push({ path: `dependencies.${i}`, message: `${JSON.stringify(d)} is not a valid stage id` });
        else if (d === def.id) issues.push({ path: `dependencies.${i}`, message: "a stage cannot depend on itself" });
        else if (seen.has(d)) issues.push({ path: `dependencies.${i}`, message: `"${d}" is listed twice` });
        else seen.add(d);
      });
    }
  }
  issues.push(...retryIssues(def.retry));
  issues.push(...stageLimitIssues(def.limits));
  return issues;
}

function retryIssues(retry: Partial<RetryPolicy> | undefined): ValidationIssue[] {
  if (retry === undefined) return [];
  if (typeof retry !== "object" || retry === null) return [{ path: "retry", message: "must be an object" }];
  const issues: ValidationIssue[] = [];
  const r = retryPolicyOf(retry);
  if (!Number.isInteger(r.maxAttempts) || r.maxAttempts < 1) issues.push({ path: "retry.maxAttempts", message: "must be an integer >= 1" });
  if (!Number.isFinite(r.backoffMs) || r.backoffMs < 0) issues.push({ path: "retry.backoffMs", message: "must be a number >= 0" });
  if (!Number.isFinite(r.maxBackoffMs) || r.maxBackoffMs < r.backoffMs)
    issues.push({ path: "retry.maxBackoffMs", message: "must be a number >= retry.backoffMs" });
  return issues;
}

/** Fields left out or set to undefined take the default policy's values. */
function retryPolicyOf(retry: Partial<RetryPolicy> | undefined): RetryPolicy {
  const given = Object.fromEntries(Object.entries(retry ?? {}).filter(([, v]) => v !== undefined));
  return { ...DEFAULT_RETRY_POLICY, ...given };
}

function throwIfAny(def: { id?: unknown }, issues: ValidationIssue[]): void {
  if (issues.length > 0) {
    const label = typeof def?.id === "string" && def.id !== "" ? `invalid stage definition "${def.id}"` : "invalid stage definition";
    throw new ValidationError(label, issues);
  }
}

function freezeStage(
  def: CommonDefinition<string, SchemaOrNone, z.ZodType, z.ZodType>,
  mode: "sync" | "async-batch",
  execute: (ctx: never) => Promise<unknown>,
  checkCompletion: ((state: never, ctx: never) => Promise<unknown>) | undefined,
): Stage {
  const stage = {
    id: def.id,
    name: def.name,
    ...(def.description !== undefined ? { description: def.description } : {}),
    dependencies: Object.freeze([...(def.dependencies ?? [])]),
    mode,
    schemas: Object.freeze({ input: def.schemas.input, output: def.schemas.output, config: def.schemas.config }),
    retry: Object.freeze(retryPolicyOf(def.retry)),
    ...(def.limits !== undefined ? { limits: Object.freeze({ ...def.limits }) } : {}),
    execute,
    ...(checkCompletion ? { checkCompletion } : {}),
  };
  return Object.freeze(stage) as unknown as Stage;
}

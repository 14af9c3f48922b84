import type { Workflow } from "../builder/types.js";
import { StageNotFoundError, ValidationError, type ValidationIssue } from "../contract/errors.js";
import { STAGE_ID_PATTERN } from "../contract/stage-id.js";

/** `{ a: "a", b: "b" }`: one constant per stage id, typed as its literal. */
export type StageIdMap<Ids extends string> = { readonly [K in Ids]: K };

/** Stage ids of a workflow built by `WorkflowBuilder` (string when unknown at the type level). */
export type StageIdsOf<W> = W extends { readonly __context?: infer C }
  ? string extends keyof C
    ? string
    : Extract<keyof C, string>
  : string;

/** Where stage ids can be checked against: a workflow, a list of ids, or a map from `defineStageIds`. */
export type StageIdSource = Pick<Workflow, "id" | "getStageIds"> | readonly string[] | Readonly<Record<string, string>>;

/**
 * Stage-id constants from a built workflow, so code that names stages (rerunFrom, queries,
 * routing) cannot drift from the definition: `createStageIds(wf).summarize === "summarize"`.
 */
export function createStageIds<W extends Pick<Workflow, "getStageIds">>(workflow: W): StageIdMap<StageIdsOf<W>> {
  return Object.freeze(Object.fromEntries(workflow.getStageIds().map((id) => [id, id]))) as StageIdMap<StageIdsOf<W>>;
}

/**
 * Stage-id constants from a tuple, before any stage exists: `defineStageIds(["a", "b"] as const)`.
 * Throws a ValidationError on malformed or repeated ids.
 */
export function defineStageIds<const Ids extends readonly string[]>(ids: Ids): StageIdMap<Ids[number]> {
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  ids.forEach((id, i) => {
    if (typeof id !== "string" || !STAGE_ID_PATTERN.test(id))
      issues.push({ path: String(i), message: `${JSON.stringify(id)} is not a valid stage id` });
    else if (seen.has(id)) issues.push({ path: String(i), message: `"${id}" is listed twice` });
    else seen.add(id);
  });
  if (issues.length > 0) throw new ValidationError("invalid stage ids", issues);
  return Object.freeze(Object.fromEntries(ids.map((id) => [id, id]))) as StageIdMap<Ids[number]>;
}

function describe(source: StageIdSource): { label: string; ids: string[] } {
  if (Array.isArray(source)) return { label: "(stage id list)", ids: [...(source as readonly string[])] };
  if (typeof (source as { getStageIds?: unknown }).getStageIds === "function") {
    const wf = source as Pick<Workflow, "id" | "getStageIds">;
    return { label: wf.id, ids: wf.getStageIds() };
  }
  return { label: "(stage id map)", ids: Object.values(source as Record<string, string>) };
}

type IdsOfSource<S> = S extends readonly (infer T extends string)[]
  ? T
  : S extends Readonly<Record<string, infer V extends string>>
    ? S extends Pick<Workflow, "getStageIds">
      ? StageIdsOf<S>
      : V
    : StageIdsOf<S>;

/** True when `id` names a stage of `source`; narrows `id` to the source's ids. */
export function isValidStageId<S extends StageIdSource>(source: S, id: unknown): id is IdsOfSource<S> {
  return typeof id === "string" && describe(source).ids.includes(id);
}

/** A stage id that is not part of a workflow (or id list); the message lists the valid ids. */
export class UnknownStageIdError extends StageNotFoundError {
  readonly validStageIds: string[];
  constructor(source: string, stageId: string, valid: string[]) {
    super(source, stageId);
    this.message = `stage "${stageId}" is not part of ${source.startsWith("(") ? source : `workflow "${source}"`} (valid: ${valid.join(", ") || "none"})`;
    this.validStageIds = valid;
  }
}

/** Throws `UnknownStageIdError` (code STAGE_NOT_FOUND) unless `id` names a stage of `source`. */
export function assertValidStageId<S extends StageIdSource>(source: S, id: unknown): asserts id is IdsOfSource<S> {
  const { label, ids } = describe(source);
  if (typeof id !== "string" || !ids.includes(id)) throw new UnknownStageIdError(label, String(id), ids);
}

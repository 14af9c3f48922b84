import type { NewAnnotation, NewLog } from "../ports/persistence.js";
import type { Actor, LogLevel } from "../ports/records.js";
import type { Annotate, AnnotationInput, TypedKey } from "../contract/stage-types.js";
import type { KernelDeps } from "./deps.js";
import { ValidationError } from "../contract/errors.js";

const LEVELS: ReadonlySet<LogLevel> = new Set<LogLevel>(["DEBUG", "INFO", "WARN", "ERROR"]);

/** Logs a stage writes; persisted with the attempt's outcome (success or failure). */
export class LogBuffer {
  readonly logs: NewLog[] = [];
  constructor(
    private readonly deps: KernelDeps,
    private readonly runId: string,
    private readonly stageId: string | null,
  ) {}

  log = async (level: LogLevel, message: string, meta?: Record<string, unknown>): Promise<void> => {
    this.logs.push({
      id: this.deps.newId(),
      workflowRunId: this.runId,
      stageId: this.stageId,
      level: LEVELS.has(level) ? level : "INFO",
      message: String(message),
      meta: meta ?? null,
      createdAt: this.deps.clock.now(),
    });
  };
}

function isTypedKey(v: unknown): v is TypedKey<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { key?: unknown }).key === "string" && !("attributes" in v);
}

/**
 * Turns one annotation input into rows. An idempotency key covers the whole input; each row
 * gets `<key>#<attribute>` so that the store's per-row de-duplication keeps every attribute.
 */
export function annotationRows(
  deps: KernelDeps,
  runId: string,
  stageId: string | null,
  input: AnnotationInput,
  defaultActor: Actor,
  now: Date,
): NewAnnotation[] {
  if (typeof input !== "object" || input === null || typeof input.attributes !== "object" || input.attributes === null) {
    throw new ValidationError("invalid annotation", [{ path: "attributes", message: "must be an object" }]);
  }
  const actor = input.actor ?? defaultActor;
  if (!actor || typeof actor.id !== "string" || actor.id === "" || typeof actor.kind !== "string") {
    throw new ValidationError("invalid annotation", [{ path: "actor", message: "needs a kind and a non-empty id" }]);
  }
  return Object.entries(input.attributes).map(([key, value]) => {
    if (key.trim() === "") throw new ValidationError("invalid annotation", [{ path: "attributes", message: "keys must be non-empty" }]);
    return {
      id: deps.newId(),
      workflowRunId: runId,
      stageId,
      key,
      value: value === undefined ? null : value,
      actor,
      idempotencyKey: input.idempotencyKey ? `${input.idempotencyKey}#${key}` : null,
      createdAt: now,
    };
  });
}

/** `ctx.annotate`: buffers annotations; they commit with the stage outcome or are dropped with it. */
export class AnnotationBuffer {
  readonly rows: NewAnnotation[] = [];
  constructor(
    private readonly deps: KernelDeps,
    private readonly runId: string,
    private readonly stageId: string,
  ) {}

  readonly annotate: Annotate = ((keyOrInput: string | TypedKey<unknown> | AnnotationInput, value?: unknown): void => {
    let input: AnnotationInput;
    if (typeof keyOrInput === "string") input = { attributes: { [keyOrInput]: value } };
    else if (isTypedKey(keyOrInput)) input = { attributes: { [keyOrInput.key]: value } };
    else input = keyOrInput;
    const actor: Actor = { kind: "stage", id: this.stageId };
    this.rows.push(...annotationRows(this.deps, this.runId, this.stageId, input, actor, this.deps.clock.now()));
  }) as Annotate;
}

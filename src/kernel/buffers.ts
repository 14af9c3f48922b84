import type { NewAnnotation, NewLog, PersistenceTx } from "../ports/persistence.js";
import type { AICallRecord, Actor, LogLevel } from "../ports/records.js";
import { type AIRecorder, type AISpend, PendingAICalls, type ReportAICall, aiTopic, knownCost } from "../contract/ai-calls.js";
import type { Annotate, AnnotationInput, TypedKey } from "../contract/stage-types.js";
import type { KernelDeps } from "./deps.js";
import { ValidationError } from "../contract/errors.js";

const LEVELS: ReadonlySet<LogLevel> = new Set<LogLevel>(["DEBUG", "INFO", "WARN", "ERROR"]);

/**
 * Logs and AI calls a stage writes; persisted with the attempt's outcome (success or failure:
 * what was logged is worth keeping, and a failed attempt's model calls were paid for too).
 */
export class LogBuffer {
  readonly logs: NewLog[] = [];
  readonly aiCalls: AICallRecord[] = [];
  /** `ctx.ai`: buffers calls into `aiCalls`. */
  readonly ai: AIRecorder;
  /** Streams still in flight; abandoned (recorded as aborted) when the buffer is flushed. */
  private readonly pendingAI = new PendingAICalls();
  constructor(
    private readonly deps: KernelDeps,
    private readonly runId: string,
    private readonly stageId: string | null,
  ) {
    const topic = stageId === null ? `workflow.${runId}` : aiTopic(runId, stageId);
    this.ai = {
      topic,
      record: (call, key) => this.recordAI(topic, call, key),
      spent: () => this.aiSpent(topic),
      track: (abandon) => this.pendingAI.track(abandon),
    };
  }

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

  /**
   * The stage code returned: streams it left running are aborted and recorded now (as errors),
   * since a call recorded after the outcome is written would never be stored.
   */
  endAttempt(): void {
    this.pendingAI.abandonAll();
  }

  /** Writes the buffered logs and AI calls in `tx` (abandoning unfinished streams first); a keyed AI call already stored is skipped. */
  async flush(tx: PersistenceTx): Promise<void> {
    this.endAttempt();
    if (this.logs.length > 0) await tx.appendLogs(this.logs);
    for (const c of this.aiCalls) await tx.recordAICall(c);
  }

  private recordAI(topic: string, c: ReportAICall, key: string | undefined): void {
    const meta: Record<string, unknown> = { latencyMs: c.latencyMs, status: c.status };
    if (c.provider !== undefined) meta.provider = c.provider;
    if (c.error !== undefined) meta.error = c.error;
    if (c.cachedInputTokens !== undefined) meta.cachedInputTokens = c.cachedInputTokens;
    const at = new Date(c.at);
    this.aiCalls.push({
      // A keyed call gets a stable id, so recording it again (a replayed report) stores it once.
      id: key === undefined ? this.deps.newId() : `${topic}#${key}`,
      topic,
      model: c.model,
      callType: c.callType,
      inputTokens: c.inputTokens,
      outputTokens: c.outputTokens,
      cost: c.cost,
      meta,
      createdAt: Number.isNaN(at.getTime()) ? this.deps.clock.now() : at,
    });
  }

  private async aiSpent(topic: string): Promise<AISpend> {
    const stored = await this.deps.persistence.listAICalls(`workflow.${this.runId}.`);
    const ids = new Set(stored.map((c) => c.id));
    const all = [...stored, ...this.aiCalls.filter((c) => !ids.has(c.id))];
    return { run: knownCost(all), stage: knownCost(all.filter((c) => c.topic === topic)) };
  }
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

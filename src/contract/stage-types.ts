import type { StageLimits } from "./stage-limits.js";
import type { z } from "zod";
import type { AIRecorder } from "./ai-calls.js";
import type { Readable } from "node:stream";

/** Severity of a stage log line. */
export type LogLevel = "DEBUG" | "INFO" | "WARN" | "ERROR";
/** Who did something (an annotation's author). */
export type ActorKind = "system" | "user" | "agent" | "stage";
/** Who did something: kind and id. */
export interface Actor {
  kind: ActorKind;
  id: string;
}

/** A stage's input schema, or "none" when the stage ignores its input. */
export type SchemaOrNone = z.ZodType | "none";
/** The parsed type of a schema, or undefined for "none". */
export type InferSchema<S> = S extends z.ZodType ? z.output<S> : undefined;

/** A stage's input, output and config schemas. */
export interface StageSchemas<I extends SchemaOrNone, O extends z.ZodType, C extends z.ZodType> {
  input: I;
  output: O;
  config: C;
}

/** A well-known annotation key whose value type is fixed (see `typedKey`). */
export interface TypedKey<T> {
  readonly key: string;
  /** Phantom: carries T for type inference only; never set at runtime. */
  readonly __valueType?: T;
}

/** A batch of annotation attributes with who asserted them. */
export interface AnnotationInput {
  actor?: Actor;
  attributes: Record<string, unknown>;
  /** Re-attaching with the same key for the same run is a no-op. */
  idempotencyKey?: string;
}

/** Buffered annotation writer: writes commit atomically with the stage outcome. */
export interface Annotate {
  // NoInfer: the key alone fixes T, so a wrong literal is an error instead of widening T.
  <T>(key: TypedKey<T>, value: NoInfer<T>): void;
  (key: string, value: unknown): void;
  (input: AnnotationInput): void;
}

/** Blobs a stage writes under `runs/<runId>/<stageId>/`; `run.rerunFrom` deletes them by prefix. */
export interface StageArtifacts {
  put(name: string, data: Uint8Array | string, opts?: { contentType?: string }): Promise<{ key: string; size: number }>;
  /** Reads an artifact by name (this stage) or by full key (any stage of the run). */
  get(nameOrKey: string): Promise<Uint8Array | null>;
  list(): Promise<string[]>;
  /**
   * Uploads the file at `path` without holding it in memory (remote workers: presigned multipart,
   * parts read from disk as they are sent). The file must not change while it uploads.
   */
  putFile(name: string, path: string, opts?: { contentType?: string }): Promise<{ key: string; size: number }>;
  /**
   * Uploads exactly `opts.size` bytes read from `source` (a Node Readable, a web ReadableStream or
   * any async iterable of bytes); a source that ends early or runs over fails the upload and stores nothing.
   */
  putStream(
    name: string,
    source: AsyncIterable<Uint8Array>,
    opts: { size: number; contentType?: string },
  ): Promise<{ key: string; size: number }>;
  /** Downloads an artifact to `path` (replaced once complete) without holding it in memory; null when absent. */
  getToFile(nameOrKey: string, path: string): Promise<{ key: string; size: number } | null>;
  /** An artifact as a byte stream, null when absent. Consume or destroy it: it holds a connection open. */
  getStream(nameOrKey: string): Promise<Readable | null>;
}

/** Retry policy of a stage; attempts include the first one. */
export interface RetryPolicy {
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs: number;
}

/** What a stage's code sees: its input, config, run ids, logging, annotations, artifacts and abort signal. */
export interface StageContext<TInput, TConfig, TCtx extends Record<string, unknown> = Record<string, unknown>, TState = unknown> {
  workflowRunId: string;
  workflowId: string;
  stageId: string;
  stageName: string;
  /** 1 on the first attempt. */
  attempt: number;
  /** The run's priority (`runs.create`); remote stages give it to their tasks. Absent in hand-made contexts. */
  priority?: number;
  input: TInput;
  config: TConfig;
  /** Outputs of every completed stage of earlier groups, keyed by stage id. */
  workflowContext: Readonly<TCtx>;
  /** Output of an earlier stage; throws a clear error when it is missing. */
  require<K extends string>(stageId: K): K extends keyof TCtx ? TCtx[K] : unknown;
  optional<K extends string>(stageId: K): (K extends keyof TCtx ? TCtx[K] : unknown) | undefined;
  /** Buffered; persisted with the stage outcome (also on failure). */
  log(level: LogLevel, message: string, meta?: Record<string, unknown>): Promise<void>;
  annotate: Annotate;
  /** Set when an async-batch stage is re-executed after it resumed. */
  resumeState: TState | undefined;
  /** Aborts when the run is cancelled or the attempt is abandoned. */
  signal: AbortSignal;
  /** Reports liveness and progress (remote activities forward it; locally it extends the job lease). */
  heartbeat(details?: unknown): void;
  /** Details of the last heartbeat of a previous attempt, if any (remote activities). */
  heartbeatDetails: unknown | undefined;
  artifacts: StageArtifacts;
  /**
   * Records AI calls for cost tracking (see `createAIHelper` in `jetflow/ai`); set by the kernel
   * and by the worker SDK, absent in hand-made contexts.
   */
  ai?: AIRecorder;
}

/** When an async-batch stage is checked again, and when it gives up. */
export interface PollConfig {
  /** Milliseconds between completion checks. */
  pollInterval: number;
  /** Milliseconds after suspension after which the stage fails. */
  maxWaitTime: number;
  nextPollAt?: Date;
}

/** A stage finished with its output. */
export interface CompletedOutcome<O> {
  output: O;
  customMetrics?: Record<string, number>;
}
/** An async-batch stage suspended with state to check later. */
export interface SuspendedOutcome<S> {
  suspended: true;
  state: S;
  pollConfig: PollConfig;
}
/** What a stage's execute returns: completed or suspended. */
export type StageOutcome<O, S = unknown> = CompletedOutcome<O> | SuspendedOutcome<S>;

/** What `checkCompletion` returns: ready with the output, or not yet. */
export type CompletionCheck<O> =
  { ready: true; output: O; customMetrics?: Record<string, number> } | { ready: false; error?: string; nextCheckIn?: number };

/** Context passed to `checkCompletion` (no input re-validation, logs and annotations buffered). */
export interface CheckContext<TConfig> {
  workflowRunId: string;
  workflowId: string;
  stageId: string;
  config: TConfig;
  log(level: LogLevel, message: string, meta?: Record<string, unknown>): Promise<void>;
  annotate: Annotate;
  signal: AbortSignal;
  /** Records AI calls (a batch's results are paid when collected here); see `StageContext.ai`. */
  ai?: AIRecorder;
}

/** How a stage runs: to completion, or suspended and polled. */
export type StageMode = "sync" | "async-batch";

/** A validated, immutable stage definition (from `defineStage` or `defineAsyncBatchStage`). */
export interface Stage<
  I extends SchemaOrNone = SchemaOrNone,
  O extends z.ZodType = z.ZodType,
  C extends z.ZodType = z.ZodType,
  TCtx extends Record<string, unknown> = Record<string, unknown>,
  TState = unknown,
> {
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly dependencies: readonly string[];
  readonly mode: StageMode;
  readonly schemas: StageSchemas<I, O, C>;
  readonly retry: RetryPolicy;
  /** Rate limit and concurrency key of its attempts (docs/flow-control.md). */
  readonly limits?: StageLimits;
  execute(ctx: StageContext<InferSchema<I>, z.output<C>, TCtx, TState>): Promise<StageOutcome<z.output<O>, TState>>;
  checkCompletion?(state: TState, ctx: CheckContext<z.output<C>>): Promise<CompletionCheck<z.output<O>>>;
  /** Set by `defineRemoteStage`: where the activity runs. */
  readonly remote?: {
    queue: string;
    stageCodeVersion: string;
    requiredLabels?: Record<string, string>;
    /** Priority of its tasks; default the run's. */
    priority?: number;
    maxUploadBytes?: number;
  };
}

/** A stage of any types (registries and executors hold these). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStage = Stage<any, any, any, any, any>;

/**
 * What crosses the MessagePort between the worker's main thread and an activity thread. The
 * thread runs stage code, so its messages are untrusted input to the main thread and are parsed
 * with zod there; the main thread's messages are built here and trusted by the thread.
 */
import { type AISpend, ReportAICall } from "../src/contract/ai-calls.js";
import { ReadableStream } from "node:stream/web";
import { z } from "zod";
import type { LogLevel } from "../src/contract/stage-types.js";

/** An error as it crosses a thread: enough for the failure policy (`isRetryable` is duck-typed on these fields). */
export const SerializedError = z.object({
  name: z.string(),
  message: z.string(),
  code: z.string().optional(),
  retryable: z.boolean().optional(),
  stack: z.string().optional(),
});
export type SerializedError = z.infer<typeof SerializedError>;

/** Flattens any thrown value for postMessage (class identity does not survive structured clone). */
export function serializeError(err: unknown): SerializedError {
  if (typeof err !== "object" || err === null) return { name: "Error", message: String(err) };
  const e = err as { name?: unknown; message?: unknown; code?: unknown; retryable?: unknown; stack?: unknown };
  return {
    name: typeof e.name === "string" ? e.name : "Error",
    message: typeof e.message === "string" ? e.message : String(err),
    ...(typeof e.code === "string" ? { code: e.code } : {}),
    ...(typeof e.retryable === "boolean" ? { retryable: e.retryable } : {}),
    ...(typeof e.stack === "string" ? { stack: e.stack } : {}),
  };
}

/** An Error carrying the serialized fields again, so `isRetryable` and messages behave as on the other side. */
export function deserializeError(s: SerializedError): Error {
  const err = new Error(s.message) as Error & { code?: string; retryable?: boolean };
  err.name = s.name;
  if (s.code !== undefined) err.code = s.code;
  if (s.retryable !== undefined) err.retryable = s.retryable;
  if (s.stack !== undefined) err.stack = s.stack;
  return err;
}

/** Artifact operations the thread asks the main thread to perform (transfers stay on the main thread). */
export const ArtifactCall = z.discriminatedUnion("op", [
  z.object({ op: z.literal("put"), name: z.string(), bytes: z.instanceof(ArrayBuffer), contentType: z.string().optional() }),
  z.object({ op: z.literal("get"), key: z.string() }),
  z.object({ op: z.literal("list") }),
  // Streaming calls: files are read and written by the main thread; a stream crosses as a
  // transferred web ReadableStream, whose backpressure spans the two threads.
  z.object({ op: z.literal("putFile"), name: z.string(), path: z.string(), contentType: z.string().optional() }),
  z.object({
    op: z.literal("putStream"),
    name: z.string(),
    stream: z.instanceof(ReadableStream),
    size: z.number(),
    contentType: z.string().optional(),
  }),
  z.object({ op: z.literal("getToFile"), key: z.string(), path: z.string() }),
  z.object({ op: z.literal("getStream"), key: z.string() }),
]);
export type ArtifactCall = z.infer<typeof ArtifactCall>;

/** Which attempt a message belongs to: a thread serves several in turn, and a stage's leftovers may still post. */
const Seq = z.number().int();

/** Thread → main. Every message names its attempt (`seq`); one from a finished attempt is dropped. */
export const FromThread = z.discriminatedUnion("t", [
  z.object({
    seq: Seq,
    t: z.literal("log"),
    level: z.enum(["DEBUG", "INFO", "WARN", "ERROR"]),
    message: z.string(),
    meta: z.record(z.string(), z.unknown()).optional(),
  }),
  z.object({ seq: Seq, t: z.literal("annotate"), args: z.array(z.unknown()).min(1).max(2) }),
  z.object({ seq: Seq, t: z.literal("heartbeat"), details: z.unknown() }),
  z.object({ seq: Seq, t: z.literal("ai"), call: ReportAICall }),
  z.object({ seq: Seq, t: z.literal("call"), id: z.number().int(), call: ArtifactCall }),
  /** The module is loaded and `stage.execute` is about to be called: the start watchdog stops. */
  z.object({ seq: Seq, t: z.literal("started") }),
  z.object({ seq: Seq, t: z.literal("done"), result: z.unknown() }),
  z.object({ seq: Seq, t: z.literal("error"), error: SerializedError }),
]);
export type FromThread = z.infer<typeof FromThread>;

/** Main → thread. */
export type ToThread =
  | { t: "run"; seq: number; task: ThreadTask }
  | { t: "reply"; id: number; ok: true; value: unknown }
  | { t: "reply"; id: number; ok: false; error: SerializedError }
  | { t: "abort"; seq: number; reason: SerializedError };

/** What the thread needs to rebuild the stage context (all structured-cloneable). */
export interface ThreadTask {
  /** Absolute file of the activity module. */
  file: string;
  stageId: string;
  workflowRunId: string;
  workflowId: string;
  attempt: number;
  /** Raw task input/config: the thread parses them with its own copy of the schemas (transforms included). */
  input: unknown;
  config: unknown;
  workflowContext: Readonly<Record<string, unknown>> | null;
  heartbeatDetails: unknown;
  /** The task's `aiSpent` (budgets of the AI helper). */
  aiSpent?: AISpend;
}

export type { LogLevel };

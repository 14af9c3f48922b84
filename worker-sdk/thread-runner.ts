/**
 * Main-thread side of one attempt in an activity thread (threads come from thread-pool.ts):
 * sends the attempt, proxies the thread's context calls onto the attempt's real (main-thread)
 * context, whose heartbeater and artifact transfers therefore keep running while the stage burns
 * CPU, and enforces the start watchdog and the cancel grace. A crash, an exhausted heap or an
 * exit without an answer fails only this attempt.
 */
import { type TransferListItem } from "node:worker_threads";
import type { StageContext } from "../src/contract/stage-types.js";
import { ActivityStartTimeoutError } from "./errors.js";
import type { WorkerLogger } from "./logger.js";
import type { PooledThread } from "./thread-pool.js";
import { iterableStream } from "./web-streams.js";
import { deserializeError, serializeError, type ArtifactCall, type FromThread, type ThreadTask, type ToThread } from "./thread-messages.js";

export interface ThreadLimits {
  /** V8 old-generation limit of the thread (resourceLimits.maxOldGenerationSizeMb). */
  heapMb: number;
  /** How long the thread may ignore an abort before it is terminated. */
  cancelGraceMs: number;
  /**
   * How long the thread may take from the attempt's hand-over to calling `stage.execute`
   * (booting, importing the module). A thread stuck there would otherwise hold its lease
   * forever: the main thread keeps heartbeating.
   */
  startTimeoutMs: number;
}

/** Where a thread's messages for the attempt it runs go (see PooledThread.current). */
export interface AttemptListener {
  seq: number;
  message(m: FromThread): void;
  /** The thread died (crash, heap, exit) while running this attempt. */
  failed(err: Error): void;
}

/** How the stage settled in its thread: returned, or threw (the thread is healthy either way). */
export type ThreadAnswer = { ok: true; value: unknown } | { ok: false; error: Error };

/**
 * Runs `task` as attempt `seq` on `th`. `ctx` is the attempt's main-thread context: its signal
 * is forwarded to the thread, and the thread's log/annotate/heartbeat/artifact calls are applied to it.
 * @returns what the stage returned or threw.
 * @throws ActivityCrashedError or ActivityHeapExhaustedError when the thread died,
 * ActivityStartTimeoutError when the body was not reached within `startTimeoutMs`, or
 * `ctx.signal.reason` when the thread ignored an abort for `cancelGraceMs`: the thread must be retired.
 */
export async function runOnThread(
  th: PooledThread,
  seq: number,
  task: ThreadTask,
  ctx: StageContext<unknown, unknown>,
  limits: ThreadLimits,
  logger: WorkerLogger,
): Promise<ThreadAnswer> {
  const t0 = performance.now();
  const where = { stageId: task.stageId, attempt: task.attempt, threadId: th.worker.threadId, threadAttempts: th.attempts };
  const step = (what: string) => logger.debug({ ...where, ms: Math.round(performance.now() - t0) }, what);
  step(th.attempts === 1 ? "attempt handed to a new activity thread" : "attempt handed to a warm activity thread");
  const send = (m: ToThread, transfer: TransferListItem[] = []) => {
    try {
      th.worker.postMessage(m, transfer);
    } catch (err) {
      logger.warn({ ...where, err: String(err) }, "could not reach the activity thread");
    }
  };
  let grace: ReturnType<typeof setTimeout> | null = null;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  let onAbort = () => {};
  try {
    return await new Promise<ThreadAnswer>((resolve, reject) => {
      watchdog = setTimeout(() => {
        logger.warn(
          { ...where, startTimeoutMs: limits.startTimeoutMs },
          "activity thread did not reach the stage body in time; terminating it",
        );
        reject(new ActivityStartTimeoutError(limits.startTimeoutMs));
      }, limits.startTimeoutMs);
      onAbort = () => {
        send({ t: "abort", seq, reason: serializeError(ctx.signal.reason) });
        grace = setTimeout(() => {
          logger.warn({ ...where, graceMs: limits.cancelGraceMs }, "activity ignored its abort signal; terminating its thread");
          reject(ctx.signal.reason);
        }, limits.cancelGraceMs);
      };
      th.current = {
        seq,
        failed: reject,
        message(m) {
          switch (m.t) {
            case "started":
              clearTimeout(watchdog);
              step("stage body started in the activity thread");
              return;
            case "log":
              void ctx.log(m.level, m.message, m.meta);
              return;
            case "annotate":
              (ctx.annotate as (...args: unknown[]) => void)(...m.args);
              return;
            case "heartbeat":
              ctx.heartbeat(m.details);
              return;
            case "ai":
              ctx.ai?.record(m.call);
              return;
            case "call":
              artifactCall(ctx, m.call).then(
                ({ value, transfer }) => send({ t: "reply", id: m.id, ok: true, value }, transfer),
                (err: unknown) => send({ t: "reply", id: m.id, ok: false, error: serializeError(err) }),
              );
              return;
            case "done":
              resolve({ ok: true, value: m.result });
              return;
            case "error":
              resolve({ ok: false, error: deserializeError(m.error) });
              return;
          }
        },
      };
      send({ t: "run", seq, task });
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener("abort", onAbort, { once: true });
    });
  } finally {
    th.current = null;
    ctx.signal.removeEventListener("abort", onAbort);
    if (grace) clearTimeout(grace);
    clearTimeout(watchdog);
  }
}

async function artifactCall(
  ctx: StageContext<unknown, unknown>,
  c: ArtifactCall,
): Promise<{ value: unknown; transfer: TransferListItem[] }> {
  switch (c.op) {
    case "put":
      return {
        value: await ctx.artifacts.put(c.name, new Uint8Array(c.bytes), c.contentType ? { contentType: c.contentType } : undefined),
        transfer: [],
      };
    case "get": {
      const got = await ctx.artifacts.get(c.key);
      if (!got) return { value: null, transfer: [] };
      // Own buffer of exactly these bytes, moved (not copied again) to the thread.
      const buf =
        got.byteOffset === 0 && got.byteLength === got.buffer.byteLength
          ? (got.buffer as ArrayBuffer)
          : (got.slice().buffer as ArrayBuffer);
      return { value: buf, transfer: [buf] };
    }
    case "list":
      return { value: await ctx.artifacts.list(), transfer: [] };
    case "putFile":
      return {
        value: await ctx.artifacts.putFile(c.name, c.path, c.contentType ? { contentType: c.contentType } : undefined),
        transfer: [],
      };
    case "putStream":
      return {
        value: await ctx.artifacts.putStream(c.name, c.stream as AsyncIterable<Uint8Array>, {
          size: c.size,
          ...(c.contentType ? { contentType: c.contentType } : {}),
        }),
        transfer: [],
      };
    case "getToFile":
      return { value: await ctx.artifacts.getToFile(c.key, c.path), transfer: [] };
    case "getStream": {
      const got = await ctx.artifacts.getStream(c.key);
      if (!got) return { value: null, transfer: [] };
      const web = iterableStream(got);
      return { value: web, transfer: [web as unknown as TransferListItem] };
    }
  }
}

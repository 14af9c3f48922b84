/**
 * Main-thread side of thread isolation: runs one attempt's stage code in a fresh worker thread
 * and proxies the thread's context calls onto the attempt's real (main-thread) context, whose
 * heartbeater and artifact transfers therefore keep running while the stage burns CPU. A crash,
 * an exhausted heap or an exit without an answer fails only this attempt.
 */
import { extname } from "node:path";
import { Worker, type TransferListItem } from "node:worker_threads";
import type { StageContext } from "../src/contract/stage-types.js";
import { ActivityCrashedError, ActivityHeapExhaustedError, ActivityStartTimeoutError } from "./errors.js";
import type { WorkerLogger } from "./logger.js";
import { iterableStream } from "./web-streams.js";
import { FromThread, deserializeError, serializeError, type ArtifactCall, type ThreadTask, type ToThread } from "./thread-messages.js";

export interface ThreadLimits {
  /** V8 old-generation limit of the thread (resourceLimits.maxOldGenerationSizeMb). */
  heapMb: number;
  /** How long the thread may ignore an abort before it is terminated. */
  cancelGraceMs: number;
  /**
   * How long the thread may take from spawn to calling `stage.execute` (importing the module). A
   * thread stuck there would otherwise hold its lease forever: the main thread keeps heartbeating.
   */
  startTimeoutMs: number;
}

/** Bound on `worker.terminate()`: a thread that will not die must not hold the attempt's report. */
const TERMINATE_BOUND_MS = 5_000;

// Same extension as this file: .ts when the worker runs from source (tsx), .js once built.
const ENTRY = new URL(`./activity-thread${extname(new URL(import.meta.url).pathname)}`, import.meta.url);

/**
 * A thread does not inherit the parent's module-loader hooks (Node 20), so a parent running TS
 * under tsx (`--import tsx`) registers tsx in the thread before importing the entry and the
 * activity module. Plain JS deployments import the entry directly.
 */
function bootstrap(): URL {
  const underTsx = process.execArgv.some((a) => /(^|[=/])tsx([/=]|$)/.test(a)) || ENTRY.pathname.endsWith(".ts");
  let register = "";
  if (underTsx) {
    try {
      register = `(await import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))})).register();`;
    } catch {
      // Not resolvable: the import below fails with Node's own "unknown file extension" error, which the attempt reports.
    }
  }
  // bin/jetflow.js running from sources maps "jetflow/*" imports to them (its source-hooks.js);
  // the thread needs the same mapping, or an activity module importing "jetflow/worker" would
  // look for a dist/ that a fresh clone does not have.
  const hooks = process.env.JETFLOW_SOURCE_HOOKS;
  if (hooks) {
    const { url, sources } = JSON.parse(hooks) as { url: string; sources: Record<string, string> };
    register += `(await import("node:module")).register(${JSON.stringify(url)}, { data: { sources: ${JSON.stringify(sources)} } });`;
  }
  return new URL(`data:text/javascript,${encodeURIComponent(`${register}await import(${JSON.stringify(ENTRY.href)});`)}`);
}

/**
 * Runs `task` in a new thread and resolves with what `stage.execute` returned (unvalidated).
 * `ctx` is the attempt's main-thread context: its signal is forwarded to the thread, and the
 * thread's log/annotate/heartbeat/artifact calls are applied to it.
 * @throws the stage's error (as serialized by the thread), ActivityCrashedError, ActivityHeapExhaustedError,
 * ActivityStartTimeoutError when the body was not reached within `startTimeoutMs`,
 * or `ctx.signal.reason` when the thread ignored an abort for `cancelGraceMs`.
 */
export async function runInThread(
  task: ThreadTask,
  ctx: StageContext<unknown, unknown>,
  limits: ThreadLimits,
  logger: WorkerLogger,
): Promise<unknown> {
  const worker = new Worker(bootstrap(), { workerData: task, resourceLimits: { maxOldGenerationSizeMb: limits.heapMb } });
  const t0 = performance.now();
  const step = (what: string) =>
    logger.debug({ stageId: task.stageId, attempt: task.attempt, ms: Math.round(performance.now() - t0) }, what);
  step("activity thread spawned");
  worker.once("online", () => step("activity thread online"));
  const send = (m: ToThread, transfer: TransferListItem[] = []) => {
    try {
      worker.postMessage(m, transfer);
    } catch (err) {
      logger.warn({ stageId: task.stageId, attempt: task.attempt, err: String(err) }, "could not reach the activity thread");
    }
  };
  let grace: ReturnType<typeof setTimeout> | null = null;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  let onAbort = () => {};
  try {
    return await new Promise<unknown>((resolve, reject) => {
      watchdog = setTimeout(() => {
        logger.warn(
          { stageId: task.stageId, attempt: task.attempt, startTimeoutMs: limits.startTimeoutMs },
          "activity thread did not reach the stage body in time; terminating it",
        );
        reject(new ActivityStartTimeoutError(limits.startTimeoutMs));
      }, limits.startTimeoutMs);
      onAbort = () => {
        send({ t: "abort", reason: serializeError(ctx.signal.reason) });
        grace = setTimeout(() => {
          logger.warn(
            { stageId: task.stageId, attempt: task.attempt, graceMs: limits.cancelGraceMs },
            "activity ignored its abort signal; terminating its thread",
          );
          reject(ctx.signal.reason);
        }, limits.cancelGraceMs);
      };
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener("abort", onAbort, { once: true });

      worker.on("message", (raw: unknown) => {
        const parsed = FromThread.safeParse(raw);
        if (!parsed.success) {
          logger.warn({ stageId: task.stageId, err: parsed.error.message }, "ignored a malformed message from the activity thread");
          return;
        }
        const m = parsed.data;
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
            clearTimeout(watchdog);
            resolve(m.result);
            return;
          case "error":
            reject(deserializeError(m.error));
            return;
        }
      });
      worker.on("error", (err: Error & { code?: string }) => {
        if (err.code === "ERR_WORKER_OUT_OF_MEMORY") reject(new ActivityHeapExhaustedError(limits.heapMb));
        else reject(new ActivityCrashedError(`activity thread crashed: ${err.message}`));
      });
      worker.on("exit", (code) => reject(new ActivityCrashedError(`activity thread exited with code ${code} before answering`)));
    });
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    if (grace) clearTimeout(grace);
    clearTimeout(watchdog);
    // Whatever the stage left behind (timers, sockets, a loop ignoring its signal) dies with the thread.
    await terminateBounded(worker, logger, task);
  }
}

/** `worker.terminate()`, given up (with a warning) after {@link TERMINATE_BOUND_MS}. */
async function terminateBounded(worker: Worker, logger: WorkerLogger, task: ThreadTask): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), TERMINATE_BOUND_MS)));
  const r = await Promise.race([worker.terminate().then(() => "ok" as const), bound]);
  clearTimeout(timer);
  if (r === "timeout")
    logger.warn({ stageId: task.stageId, attempt: task.attempt }, `activity thread did not terminate within ${TERMINATE_BOUND_MS} ms`);
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

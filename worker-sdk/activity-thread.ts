/**
 * Entry of an activity thread (node:worker_threads): waits for attempts, one at a time, imports
 * the activity module (once per thread), runs the attempt's `stage.execute` and posts the result
 * or the error back, tagged with the attempt's `seq`. Everything that touches the
 * network (heartbeats, artifact transfers, reports) stays on the main thread; this context
 * forwards those calls over the port, so a CPU-bound stage cannot starve its own heartbeats.
 * Uncaught errors are deliberately NOT caught here: they end the thread, and the main thread
 * fails the attempt with them.
 */
import { workerAIRecorder } from "./ai-recorder.js";
import { PendingAICalls } from "../src/contract/ai-calls.js";
import { Readable } from "node:stream";
import { ReadableStream } from "node:stream/web";
import { parentPort, type TransferListItem } from "node:worker_threads";
import type { AnyStage, StageArtifacts, StageContext } from "../src/contract/stage-types.js";
import { issuesFromZod } from "../src/contract/validation.js";
import { TaskValidationError, WorkerError } from "./errors.js";
import { loadStageModule, type StageModule } from "./stage-module.js";
import { deserializeError, serializeError, type ArtifactCall, type FromThread, type ThreadTask, type ToThread } from "./thread-messages.js";
import { workflowContextAccess } from "./workflow-context.js";
import { iterableStream } from "./web-streams.js";

const port = parentPort;
if (!port) throw new Error("activity-thread.ts runs only inside a worker thread");

/** Artifact calls awaiting the main thread's reply, by call id (unique for the thread's life). */
const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
let nextId = 0;
/** The attempt running now; an abort for another one is late and ignored. */
let current: { seq: number; controller: AbortController } | null = null;
// One import per thread and file: a reused thread does not pay for the module again.
const modules = new Map<string, Promise<StageModule>>();

port.on("message", (m: ToThread) => {
  switch (m.t) {
    case "run":
      runAttempt(m.seq, m.task);
      return;
    case "abort":
      if (current?.seq === m.seq) current.controller.abort(deserializeError(m.reason));
      return;
    case "reply": {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(deserializeError(m.error));
    }
  }
});

/** Posts with the attempt's seq: whatever the attempt's leftovers post later is dropped by the main thread. */
type Post = (m: DistributiveOmit<FromThread, "seq">, transfer?: TransferListItem[]) => void;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
const poster =
  (seq: number): Post =>
  (m, transfer = []) =>
    port.postMessage({ ...m, seq }, transfer);

function callVia(post: Post) {
  return (c: ArtifactCall, transfer: TransferListItem[] = []): Promise<unknown> => {
    const id = ++nextId;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      post({ t: "call", id, call: c }, transfer);
    });
  };
}

function artifactsVia(call: ReturnType<typeof callVia>): StageArtifacts {
  return {
    async put(name, data, opts) {
      // A copy is transferred (not the caller's buffer, which would be detached under their feet).
      const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data.slice();
      const buf = bytes.buffer as ArrayBuffer;
      return (await call({ op: "put", name, bytes: buf, ...(opts?.contentType ? { contentType: opts.contentType } : {}) }, [buf])) as {
        key: string;
        size: number;
      };
    },
    async get(key) {
      const got = (await call({ op: "get", key })) as ArrayBuffer | null;
      return got ? new Uint8Array(got) : null;
    },
    async list() {
      return (await call({ op: "list" })) as string[];
    },
    // Files are opened by the main thread (same process, same filesystem); streams cross as
    // transferred web streams, so no side holds more than a few chunks of them.
    async putFile(name, path, opts) {
      return (await call({ op: "putFile", name, path, ...(opts?.contentType ? { contentType: opts.contentType } : {}) })) as {
        key: string;
        size: number;
      };
    },
    async putStream(name, source, opts) {
      const web = source instanceof ReadableStream ? source : iterableStream(source);
      const c = {
        op: "putStream" as const,
        name,
        stream: web,
        size: opts.size,
        ...(opts.contentType ? { contentType: opts.contentType } : {}),
      };
      return (await call(c, [web as unknown as TransferListItem])) as { key: string; size: number };
    },
    async getToFile(key, path) {
      return (await call({ op: "getToFile", key, path })) as { key: string; size: number } | null;
    },
    async getStream(key) {
      const got = (await call({ op: "getStream", key })) as ReadableStream<Uint8Array> | null;
      return got ? Readable.fromWeb(got) : null;
    },
  };
}

function parse(schema: AnyStage["schemas"]["input"], value: unknown, what: string): unknown {
  if (schema === "none") return undefined;
  const r = schema.safeParse(value);
  if (!r.success) throw new TaskValidationError(what, issuesFromZod(r.error));
  return r.data;
}

async function execute(task: ThreadTask, signal: AbortSignal, post: Post, pendingAI: PendingAICalls): Promise<unknown> {
  let loading = modules.get(task.file);
  if (!loading) {
    loading = loadStageModule(task.file);
    modules.set(task.file, loading);
    // A failed import is retried by the next attempt (in this thread, if it is reused), not cached.
    loading.catch(() => modules.delete(task.file));
  }
  const mod = await loading;
  const stage = mod.stages.get(task.stageId);
  if (!stage)
    throw new WorkerError(
      "CONFIG",
      `module ${task.file} no longer exports stage "${task.stageId}" (it changed since the worker loaded it)`,
      false,
    );
  // The main thread validated already; parsing again here gives the stage the values its own
  // schemas produce (transforms, defaults), which structured clone could not carry.
  const input = parse(stage.schemas.input, task.input, "invalid task input");
  const config = parse(stage.schemas.config, task.config ?? {}, "invalid task config");
  const access = workflowContextAccess(stage.id, task.workflowContext);
  const ctx: StageContext<unknown, unknown> = {
    workflowRunId: task.workflowRunId,
    workflowId: task.workflowId,
    stageId: task.stageId,
    stageName: stage.name,
    attempt: task.attempt,
    input,
    config,
    workflowContext: access.workflowContext,
    require: access.require,
    optional: access.optional,
    async log(level, message, meta) {
      post({ t: "log", level, message, ...(meta ? { meta } : {}) });
    },
    annotate: ((...args: unknown[]) => post({ t: "annotate", args })) as StageContext<unknown, unknown>["annotate"],
    resumeState: undefined,
    signal,
    heartbeat(details?: unknown) {
      post({ t: "heartbeat", details });
    },
    heartbeatDetails: task.heartbeatDetails,
    artifacts: artifactsVia(callVia(post)),
    ai: workerAIRecorder(task, (call) => post({ t: "ai", call }), pendingAI),
  };
  post({ t: "started" });
  return stage.execute(ctx);
}

// Streams the stage left running are recorded (as aborted) before "done"/"error": the main
// thread builds the report on that message, so a later "ai" message would be lost.
function runAttempt(seq: number, task: ThreadTask): void {
  const controller = new AbortController();
  current = { seq, controller };
  const post = poster(seq);
  const pendingAI = new PendingAICalls();
  execute(task, controller.signal, post, pendingAI)
    .finally(() => pendingAI.abandonAll())
    .then(
      (result) => {
        try {
          post({ t: "done", result });
        } catch (err) {
          // A result structured clone cannot carry (a function, a class with private state): say so.
          post({
            t: "error",
            error: serializeError(
              new WorkerError(
                "CONFIG",
                `stage "${task.stageId}" returned a result that cannot leave its thread: ${(err as Error).message}`,
                false,
              ),
            ),
          });
        }
      },
      (err: unknown) => post({ t: "error", error: serializeError(err) }),
    )
    .finally(() => {
      if (current?.seq === seq) current = null;
    });
}

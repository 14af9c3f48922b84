/**
 * The activity threads of one worker: a thread runs one attempt at a time and, when that attempt
 * ended cleanly, waits for the next one of the same module, so an attempt does not pay a thread
 * boot and a module import (about 0.2 s of CPU compiled, 0.7 s under tsx) each time. A thread is
 * replaced after `maxAttemptsPerThread` attempts, and retired at once when its attempt was
 * aborted, crashed it, exhausted its heap or timed out: whatever such a stage left behind dies
 * with its thread. With `maxAttemptsPerThread: 1` every attempt gets a fresh thread.
 */
import { extname } from "node:path";
import { Worker } from "node:worker_threads";
import type { StageContext } from "../src/contract/stage-types.js";
import { ActivityCrashedError, ActivityHeapExhaustedError } from "./errors.js";
import type { WorkerLogger } from "./logger.js";
import { FromThread, serializeError, type ThreadTask, type ToThread } from "./thread-messages.js";
import { runOnThread, type AttemptListener, type ThreadLimits } from "./thread-runner.js";
import { TYPESCRIPT_FILE } from "./user-module-loader.js";

export type { ThreadLimits } from "./thread-runner.js";

/**
 * An idle thread is ended after this long without an attempt (its ~40 MiB go back), except the
 * pool's last thread, which stays warm so that a worker seeing a task every few minutes does not
 * pay a boot for each.
 */
export const THREAD_IDLE_MS = 60_000;
/** Bound on `worker.terminate()`: a thread that will not die must not hold the attempt's report. */
const TERMINATE_BOUND_MS = 5_000;

// Same extension as this file: .ts when the worker runs from source (tsx), .js once built.
const ENTRY = new URL(`./activity-thread${extname(new URL(import.meta.url).pathname)}`, import.meta.url);

/** One activity thread and the attempt it runs now (null while idle). */
export interface PooledThread {
  readonly worker: Worker;
  /** Attempts handed to this thread so far. */
  attempts: number;
  /** Exited or crashed: never handed another attempt. */
  dead: boolean;
  current: AttemptListener | null;
  idleTimer?: ReturnType<typeof setTimeout>;
}

/**
 * A thread does not inherit the parent's module-loader hooks (Node 20), so the thread registers
 * tsx before importing the entry and the activity module when either is TypeScript or the parent
 * runs under tsx (`--import tsx`). Plain JS deployments import the entry directly.
 */
function bootstrap(file: string): URL {
  const underTsx =
    process.execArgv.some((a) => /(^|[=/])tsx([/=]|$)/.test(a)) || ENTRY.pathname.endsWith(".ts") || TYPESCRIPT_FILE.test(file);
  let register = "";
  if (underTsx) {
    try {
      register = `(await import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))})).register(); globalThis[Symbol.for("jetflow.typescript-loader")] = true;`;
    } catch {
      // Not resolvable: the import below fails with Node's own "unknown file extension" error, which the attempt reports.
    }
  }
  // bin/jetflow.js maps "jetflow/*" imports to the code it runs (its source-hooks.js or, under the
  // test runner, build-hooks.js); the thread needs the same mapping, or an activity module
  // importing "jetflow/worker" would look for a dist/ that a fresh clone does not have.
  const hooks = process.env.JETFLOW_SOURCE_HOOKS;
  if (hooks) {
    const { url, data } = JSON.parse(hooks) as { url: string; data: unknown };
    register += `(await import("node:module")).register(${JSON.stringify(url)}, { data: ${JSON.stringify(data)} });`;
  }
  return new URL(`data:text/javascript,${encodeURIComponent(`${register}await import(${JSON.stringify(ENTRY.href)});`)}`);
}

/** Runs attempts of one activity module in reusable threads; `close()` ends every thread. */
export class ActivityThreadPool {
  private readonly idle: PooledThread[] = [];
  private readonly live = new Set<PooledThread>();
  private seq = 0;
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly limits: ThreadLimits & { maxAttemptsPerThread: number },
    private readonly logger: WorkerLogger,
    private readonly idleMs = THREAD_IDLE_MS,
  ) {}

  /** Threads alive now: running an attempt, or idle and ready for the next. */
  size(): { busy: number; idle: number } {
    return { busy: this.live.size - this.idle.length, idle: this.idle.length };
  }

  /**
   * Runs one attempt in a thread and resolves with what `stage.execute` returned (unvalidated).
   * `ctx` is the attempt's main-thread context (see {@link runOnThread}).
   * @throws the stage's error, or what {@link runOnThread} throws when the thread failed.
   */
  async run(task: Omit<ThreadTask, "file">, ctx: StageContext<unknown, unknown>): Promise<unknown> {
    const th = this.acquire();
    th.attempts++;
    th.worker.ref();
    let healthy = false;
    try {
      const answer = await runOnThread(th, ++this.seq, { ...task, file: this.file }, ctx, this.limits, this.logger);
      // The stage settled by itself: its thread is fit for the next attempt.
      healthy = true;
      if (answer.ok) return answer.value;
      throw answer.error;
    } finally {
      th.current = null;
      const reuse = healthy && !ctx.signal.aborted && !th.dead && !this.closed && th.attempts < this.limits.maxAttemptsPerThread;
      if (reuse) this.park(th);
      else await this.retire(th);
    }
  }

  /** Ends idle threads now and busy ones as their attempts end. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.idle.splice(0).map((th) => this.retire(th)));
  }

  private acquire(): PooledThread {
    for (let th = this.idle.pop(); th; th = this.idle.pop()) {
      clearTimeout(th.idleTimer);
      if (!th.dead) return th;
    }
    return this.spawn();
  }

  private spawn(): PooledThread {
    const worker = new Worker(bootstrap(this.file), { resourceLimits: { maxOldGenerationSizeMb: this.limits.heapMb } });
    const th: PooledThread = { worker, attempts: 0, dead: false, current: null };
    this.live.add(th);
    worker.on("message", (raw: unknown) => {
      const parsed = FromThread.safeParse(raw);
      if (!parsed.success) {
        this.logger.warn({ threadId: worker.threadId, err: parsed.error.message }, "ignored a malformed message from an activity thread");
        return;
      }
      const m = parsed.data;
      if (th.current?.seq === m.seq) th.current.message(m);
      // Otherwise a finished attempt's leftovers (a timer logging late): not this attempt's
      // business. A leftover artifact call is refused rather than left waiting forever.
      else if (m.t === "call")
        worker.postMessage({
          t: "reply",
          id: m.id,
          ok: false,
          error: serializeError(new Error(`attempt ${m.seq} has ended; its artifact call was refused`)),
        } satisfies ToThread);
    });
    const died = (err: Error) => {
      th.dead = true;
      this.live.delete(th);
      const at = this.idle.indexOf(th);
      if (at >= 0) {
        this.idle.splice(at, 1);
        clearTimeout(th.idleTimer);
        this.logger.warn({ threadId: worker.threadId, err: err.message }, "an idle activity thread ended");
      }
      th.current?.failed(err);
    };
    worker.on("error", (err: Error & { code?: string }) =>
      died(
        err.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? new ActivityHeapExhaustedError(this.limits.heapMb)
          : new ActivityCrashedError(`activity thread crashed: ${err.message}`),
      ),
    );
    worker.on("exit", (code) => died(new ActivityCrashedError(`activity thread exited with code ${code} before answering`)));
    return th;
  }

  /** Keeps a thread for the next attempt; it does not hold the process open while it waits. */
  private park(th: PooledThread): void {
    th.worker.unref();
    th.idleTimer = setTimeout(() => {
      const at = this.idle.indexOf(th);
      // The last thread stays; it is replaced only by reuse limits or close().
      if (at < 0 || this.live.size <= 1) return;
      this.idle.splice(at, 1);
      void this.retire(th);
    }, this.idleMs);
    th.idleTimer.unref();
    this.idle.push(th);
  }

  /** `worker.terminate()`, given up (with a warning) after {@link TERMINATE_BOUND_MS}. */
  private async retire(th: PooledThread): Promise<void> {
    this.live.delete(th);
    th.dead = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), TERMINATE_BOUND_MS)));
    const r = await Promise.race([th.worker.terminate().then(() => "ok" as const), bound]);
    clearTimeout(timer);
    if (r === "timeout")
      this.logger.warn({ threadId: th.worker.threadId }, `activity thread did not terminate within ${TERMINATE_BOUND_MS} ms`);
  }
}

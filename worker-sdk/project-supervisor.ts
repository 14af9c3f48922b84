/**
 * Keeps one project of a worker service running, as seed 003's worker manager does: a project
 * whose worker crashes (its module throws while loading, or its poll loop dies) is started again
 * after an exponential backoff, and after `maxCrashes` crashes within `windowMs` it stays down with
 * status `failed`, the error and its stack in its status, instead of flapping forever.
 */
import type { WsProjectError, WsProjectStatus, WsStartRequest } from "../src/contract/worker-service.js";
import { ModuleLoadError } from "./errors.js";
import { countWorkerRestart } from "../src/contract/fleet-metrics.js";
import type { WorkerLogger } from "./logger.js";
import type { ProjectWorker, ProjectWorkerStatus } from "./project-worker.js";

/** How a worker service restarts a crashed project. */
export interface RestartPolicy {
  /** Delay before the first restart; doubles with each further crash in the window. */
  baseMs: number;
  /** Longest delay between two restarts. */
  maxMs: number;
  /** This many crashes within `windowMs` mark the project `failed`: no more automatic restarts. */
  maxCrashes: number;
  windowMs: number;
}

/** 1 s, 2 s, 4 s, 8 s … up to 30 s; failed at the 5th crash within 5 minutes. */
export const DEFAULT_RESTART_POLICY: RestartPolicy = { baseMs: 1_000, maxMs: 30_000, maxCrashes: 5, windowMs: 300_000 };

/** Delay before the restart that follows the `n`th crash in the window (n ≥ 1): base·2^(n−1), at most max. */
export function restartDelayMs(p: RestartPolicy, n: number): number {
  return Math.min(p.maxMs, p.baseMs * 2 ** Math.max(0, n - 1));
}

/** What a status shows of a crash: the module's own error and stack when it threw at load. */
export function describeCrash(err: unknown, at = new Date()): WsProjectError {
  const source = err instanceof ModuleLoadError && err.cause instanceof Error ? err.cause : err;
  return {
    message: err instanceof Error ? err.message : String(err),
    stack: source instanceof Error ? (source.stack ?? null) : null,
    at: at.toISOString(),
  };
}

export interface ProjectSupervisorOptions {
  request: WsStartRequest;
  serviceId: string;
  policy: RestartPolicy;
  logger: WorkerLogger;
  /** Starts the project's worker on freshly loaded code; `onCrash` must be wired to its poll loop. */
  launch: (o: { firstGeneration: number; restarts: number; onCrash: (err: Error) => void }) => Promise<ProjectWorker>;
}

type State = "starting" | "running" | "restarting" | "failed" | "stopped";

/** One project of a worker service: its current worker (if any), crash history and restart timer. */
export class ProjectSupervisor {
  private worker: ProjectWorker | null = null;
  /** Workers that crashed or were replaced: their counters stay in the project's totals. */
  private readonly past: ProjectWorker[] = [];
  private readonly retiring = new Set<Promise<void>>();
  private readonly loading = new Set<Promise<void>>();
  private state: State = "starting";
  private restarts = 0;
  private crashTimes: number[] = [];
  private lastError: WsProjectError | null = null;
  private timer: NodeJS.Timeout | null = null;
  private nextRestartAt: Date | null = null;
  private nextGeneration = 1;
  private last: ProjectWorkerStatus | null = null;
  /** Bumped by every stop and restart request, so a crash or timer of an older epoch is ignored. */
  private epoch = 0;
  private readonly startedAt = new Date();
  /** Settles when the first start (or the last restart request) has a worker running or a crash recorded. */
  ready: Promise<void> = Promise.resolve();

  constructor(private readonly o: ProjectSupervisorOptions) {}

  get request(): WsStartRequest {
    return this.o.request;
  }

  get queue(): string {
    return this.o.request.queue;
  }

  /** The code version of the current (or last) worker; null before any load succeeded. */
  get version(): string | null {
    return this.worker?.version ?? this.last?.codeVersion ?? null;
  }

  /** Gave up (`failed`) or stopped: a new start replaces it. */
  get ended(): boolean {
    return this.state === "failed" || this.state === "stopped";
  }

  /**
   * First start. A module that throws while loading counts as a crash (restarted with backoff);
   * anything else wrong with the request (no such file, bad exports, version mismatch) is thrown.
   */
  start(): Promise<void> {
    this.ready = this.attempt(this.epoch, true);
    return this.ready;
  }

  /** Stops the current worker (draining by default) and starts the project afresh, forgetting its crashes. */
  async restart({ drain = true }: { drain?: boolean } = {}): Promise<void> {
    const epoch = ++this.epoch;
    this.clearTimer();
    if (this.worker) await this.retire(this.worker, drain);
    if (epoch !== this.epoch) return;
    this.crashTimes = [];
    this.restarts = 0;
    this.lastError = null;
    this.state = "starting";
    countWorkerRestart(this.o.request.project, "request");
    this.ready = this.attempt(epoch, true).catch((err: unknown) => {
      this.state = "failed";
      this.lastError = describeCrash(err);
      throw err;
    });
    return this.ready;
  }

  /** Stops the project for good; resolves when every worker it ran has stopped (one still loading included). */
  async stop({ drain = true }: { drain?: boolean } = {}): Promise<void> {
    this.epoch++;
    this.clearTimer();
    this.state = "stopped";
    if (this.worker) void this.retire(this.worker, drain);
    // A load in progress ends by retiring its worker (its epoch is over): wait for it too.
    while (this.loading.size > 0) await Promise.all([...this.loading]);
    while (this.retiring.size > 0) await Promise.all([...this.retiring]);
  }

  /** Loads and starts a worker, tracked in `loading` so a stop can wait for it. */
  private attempt(epoch: number, throwRequestErrors: boolean): Promise<void> {
    const p = this.load(epoch, throwRequestErrors);
    const tracked: Promise<void> = p.then(
      () => undefined,
      () => undefined, // the caller of attempt() gets the error; the tracker only waits
    );
    this.loading.add(tracked);
    void tracked.finally(() => this.loading.delete(tracked));
    return p;
  }

  private async load(epoch: number, throwRequestErrors: boolean): Promise<void> {
    const holder: { pw: ProjectWorker | null } = { pw: null };
    let pw: ProjectWorker;
    // Reserved now, so a load racing a restart request never reuses a generation (and its worker id).
    const first = this.nextGeneration++;
    try {
      pw = await this.o.launch({
        firstGeneration: first,
        restarts: this.restarts,
        // Deferred: a loop that dies at once must find `holder.pw` set.
        onCrash: (err) => void setImmediate(() => holder.pw && this.crashed(holder.pw, err)),
      });
    } catch (err) {
      if (this.nextGeneration === first + 1) this.nextGeneration = first; // nothing ran under it
      if (epoch !== this.epoch) return;
      if (throwRequestErrors && !(err instanceof ModuleLoadError)) throw err;
      this.crashed(null, err);
      return;
    }
    holder.pw = pw;
    if (epoch !== this.epoch) {
      // Stopped or restarted while loading: this worker is not wanted any more.
      await this.retire(pw, false);
      return;
    }
    // A follow switch loads the new version while the old worker still runs: it drains now.
    const previous = this.worker;
    this.worker = pw;
    this.state = "running";
    if (previous && previous !== pw) void this.retire(previous, true);
  }

  /**
   * Starts a worker on freshly resolved code (the queue's new current version, for `follow`) and
   * then drains the running one: its in-flight tasks finish on their version. Throws, leaving the
   * running worker alone, when the new code is refused.
   */
  async switchVersion(): Promise<void> {
    if (this.ended) return;
    await this.attempt(this.epoch, true);
  }

  private crashed(pw: ProjectWorker | null, err: unknown): void {
    if (pw) {
      if (pw !== this.worker) return;
      void this.retire(pw, true);
    }
    const now = Date.now();
    this.crashTimes = this.crashTimes.filter((t) => now - t < this.o.policy.windowMs);
    this.crashTimes.push(now);
    this.lastError = describeCrash(err, new Date(now));
    const { project } = this.o.request;
    if (this.crashTimes.length >= this.o.policy.maxCrashes) {
      this.state = "failed";
      this.nextRestartAt = null;
      this.o.logger.error(
        { project, crashes: this.crashTimes.length, restarts: this.restarts, err: this.lastError.message },
        "project worker crashed too often; not restarting it (restart or start it again by request)",
      );
      return;
    }
    const delay = restartDelayMs(this.o.policy, this.crashTimes.length);
    this.state = "restarting";
    this.nextRestartAt = new Date(now + delay);
    this.o.logger.error({ project, restartInMs: delay, restarts: this.restarts, err: this.lastError.message }, "project worker crashed");
    const epoch = this.epoch;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.nextRestartAt = null;
      this.restarts++;
      countWorkerRestart(this.o.request.project, "crash");
      void this.attempt(epoch, false);
    }, delay);
  }

  /** Moves `pw` to the past and stops it; resolves when it has stopped. */
  private retire(pw: ProjectWorker, drain: boolean): Promise<void> {
    if (this.worker === pw) this.worker = null;
    this.past.push(pw);
    this.last = pw.status();
    this.nextGeneration = Math.max(this.nextGeneration, pw.generation + 1);
    const done: Promise<void> = pw
      .stop({ drain })
      .catch((err: unknown) =>
        this.o.logger.error({ project: this.o.request.project, err: (err as Error).message }, "stopping a project worker failed"),
      )
      .finally(() => this.retiring.delete(done));
    this.retiring.add(done);
    return done;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.nextRestartAt = null;
  }

  status(): WsProjectStatus {
    const past = this.past.map((p) => p.status());
    const sum = (k: "inFlight" | "completed" | "failed") => past.reduce((n, s) => n + s[k], 0);
    const extra = { restarts: this.restarts, lastError: this.lastError, nextRestartAt: this.nextRestartAt?.toISOString() ?? null };
    const current = this.worker?.status();
    if (current) {
      return {
        ...current,
        status: this.state === "running" ? current.status : this.state,
        inFlight: current.inFlight + sum("inFlight"),
        completed: current.completed + sum("completed"),
        failed: current.failed + sum("failed"),
        ...extra,
      };
    }
    const r = this.o.request;
    const generation = Math.max(1, this.nextGeneration - 1);
    const inFlight = sum("inFlight");
    return {
      project: r.project,
      queue: r.queue,
      codeVersion: this.last?.codeVersion ?? r.codeVersion ?? "",
      module: this.last?.module ?? r.module ?? `(bundle of ${r.queue} from the store)`,
      workerId: `${this.o.serviceId}-${r.project}-g${generation}`,
      status: this.state === "stopped" && inFlight > 0 ? "draining" : this.state,
      generation,
      inFlight,
      capacity: r.concurrency ?? 1,
      completed: sum("completed"),
      failed: sum("failed"),
      startedAt: this.startedAt.toISOString(),
      lastReloadAt: this.last?.lastReloadAt ?? null,
      lastReloadError: this.last?.lastReloadError ?? null,
      ...extra,
    };
  }
}

/**
 * One project's worker inside a worker service, with hot reload: when the module file changes,
 * a new generation of the worker starts on the new code and the previous one drains (its
 * in-flight tasks finish on the old code, it pulls nothing new). A change that declares another
 * code version is refused: a version change is a deploy (new consumer, new credentials), not a reload.
 */
import { unwatchFile, watchFile, type Stats } from "node:fs";
import type { WsProjectStatus, WsStartRequest } from "../src/contract/worker-service.js";
import { WorkerConfigError } from "./errors.js";
import type { FleetMember } from "./fleet-member.js";
import type { WorkerLogger } from "./logger.js";
import { loadStageModule, type StageModule } from "./stage-module.js";
import { recordCodeLoad } from "../src/contract/fleet-metrics.js";
import type { WorkerTransport } from "./transport.js";
import { createActivityWorker, type ActivityWorker, type Isolation } from "./worker.js";

/** A project worker's own view of its status; the supervisor adds restarts and the last crash. */
export type ProjectWorkerStatus = Omit<WsProjectStatus, "restarts" | "lastError" | "nextRestartAt">;

/** Makes the transport of one (queue, codeVersion); `close()` must not close a shared connection. */
export type TransportFactory = (queue: string, codeVersion: string) => WorkerTransport & { close?(): Promise<void> };

export interface ProjectWorkerOptions {
  /** The start request, its module resolved (a bundle from the store is a file by now). */
  request: WsStartRequest & { module: string };
  serviceId: string;
  makeTransport: TransportFactory;
  logger: WorkerLogger;
  /** Where relative module paths resolve. Default: the process's working directory. */
  cwd?: string;
  /** How often the module file's mtime is checked. Default 500 ms. */
  watchIntervalMs?: number;
  heartbeatIntervalMs?: number;
  pollWaitMs?: number;
  /** Where stage code runs. Default "thread": activity threads import the module file (each generation its own threads). */
  isolation?: Isolation;
  /** Heap limit of an activity thread (MiB). */
  threadHeapMb?: number;
  /** How long a cancelled activity may ignore its signal before its thread is terminated. */
  cancelGraceMs?: number;
  /** Attempts an activity thread serves before it is replaced. */
  threadMaxAttempts?: number;
  /** A fresh fleet membership per worker generation (registry entry + control), if the fleet is used. */
  makeFleetMember?: () => FleetMember;
  /** Called with the resolved code version before anything is pulled; throw to refuse the start. */
  beforeLaunch?: (codeVersion: string) => void;
  /** Number of the first generation (a restarted project goes on counting). Default 1. */
  firstGeneration?: number;
  /** Called once when the current generation's poll loop dies (not on a stop or a drain). */
  onCrash?: (err: Error) => void;
  /** The module is a bundle from the store that took this long to fetch and verify (code-load metric source `store`). */
  bundleLoadMs?: number;
  /** The supervisor's restart count of the project, published in the fleet registry. */
  restarts?: number;
}

interface Generation {
  n: number;
  module: StageModule;
  worker: ActivityWorker;
  transport: ReturnType<TransportFactory>;
}

/** A running project: its current generation plus older ones still draining. */
export class ProjectWorker {
  private current!: Generation;
  private readonly draining = new Set<Promise<void>>();
  /** Every generation ever started (stats survive stop), for the project's totals. */
  private readonly generations: Generation[] = [];
  private reloading: Promise<void> = Promise.resolve();
  private lastReloadAt: Date | null = null;
  private lastReloadError: string | null = null;
  private stopped = false;
  private readonly startedAt = new Date();
  private readonly codeVersion: string;
  private readonly onChange = (curr: Stats, prev: Stats) => {
    if (curr.mtimeMs !== prev.mtimeMs && !this.stopped) this.reloading = this.reloading.then(() => this.reload());
  };

  private constructor(
    private readonly o: ProjectWorkerOptions,
    module: StageModule,
    loadMs: number,
  ) {
    const declared = module.version;
    const asked = o.request.codeVersion;
    if (asked && declared && asked !== declared) {
      throw new WorkerConfigError(`module ${module.file} declares version "${declared}" but version "${asked}" was requested`);
    }
    const version = asked ?? declared;
    if (!version) throw new WorkerConfigError(`no code version: pass codeVersion or export "version" from ${module.file}`);
    this.codeVersion = version;
    o.beforeLaunch?.(version);
    this.current = this.launch(o.firstGeneration ?? 1, module, loadMs);
    if (module.isPath && o.request.watch !== false)
      watchFile(module.file, { interval: o.watchIntervalMs ?? 500, persistent: false }, this.onChange);
  }

  /** Loads the module and starts generation 1. @throws WorkerConfigError when the module or version is unusable. */
  static async start(o: ProjectWorkerOptions): Promise<ProjectWorker> {
    const started = performance.now();
    const module = await loadStageModule(o.request.module, { cwd: o.cwd, fresh: true });
    const loadMs = (o.bundleLoadMs ?? 0) + performance.now() - started;
    recordCodeLoad(loadMs / 1000, o.request.queue, o.bundleLoadMs === undefined ? "path" : "store");
    return new ProjectWorker(o, module, loadMs);
  }

  get queue(): string {
    return this.o.request.queue;
  }

  get version(): string {
    return this.codeVersion;
  }

  /** The current generation's number. */
  get generation(): number {
    return this.current.n;
  }

  private launch(n: number, module: StageModule, loadMs: number): Generation {
    const { request: r, serviceId } = this.o;
    const transport = this.o.makeTransport(r.queue, this.codeVersion);
    const worker = createActivityWorker({
      transport,
      queue: r.queue,
      stageCodeVersion: this.codeVersion,
      registry: module.stages,
      modulePath: module.file,
      isolation: this.o.isolation ?? "thread",
      ...(this.o.threadHeapMb ? { threadHeapMb: this.o.threadHeapMb } : {}),
      ...(this.o.cancelGraceMs !== undefined ? { cancelGraceMs: this.o.cancelGraceMs } : {}),
      ...(this.o.threadMaxAttempts !== undefined ? { threadMaxAttempts: this.o.threadMaxAttempts } : {}),
      workerId: `${serviceId}-${r.project}-g${n}`,
      maxConcurrentTasks: r.concurrency ?? 1,
      ...(r.labels ? { labels: r.labels } : {}),
      logger: this.o.logger,
      ...(this.o.heartbeatIntervalMs ? { heartbeatIntervalMs: this.o.heartbeatIntervalMs } : {}),
      ...(this.o.pollWaitMs ? { pollWaitMs: this.o.pollWaitMs } : {}),
      ...(this.o.makeFleetMember ? { fleet: this.o.makeFleetMember() } : {}),
      codeLoadMs: loadMs,
      ...(this.o.restarts !== undefined ? { restarts: this.o.restarts } : {}),
    });
    worker.start();
    const g = { n, module, worker, transport };
    this.generations.push(g);
    void worker.done().then(() => {
      const crash = worker.getStats().crash;
      if (crash && g === this.current && !this.stopped) this.o.onCrash?.(crash);
    });
    return g;
  }

  private async reload(): Promise<void> {
    const old = this.current;
    let next: StageModule;
    const started = performance.now();
    try {
      next = await loadStageModule(this.o.request.module, { cwd: this.o.cwd, fresh: true });
      if (next.version && next.version !== this.codeVersion) {
        throw new WorkerConfigError(
          `module ${next.file} now declares version "${next.version}" but project ${this.o.request.project} runs "${this.codeVersion}": start a new deploy instead of a reload`,
        );
      }
    } catch (err) {
      this.lastReloadError = (err as Error).message;
      this.o.logger.error(
        { project: this.o.request.project, err: this.lastReloadError },
        "module change refused; the previous code keeps running",
      );
      return;
    }
    if (this.stopped) return;
    const loadMs = performance.now() - started;
    recordCodeLoad(loadMs / 1000, this.o.request.queue, "path");
    this.current = this.launch(old.n + 1, next, loadMs);
    this.lastReloadAt = new Date();
    this.lastReloadError = null;
    this.o.logger.info({ project: this.o.request.project, generation: this.current.n }, "module reloaded; the previous generation drains");
    this.retire(old, true);
  }

  /** Stops `g` (draining or not) in the background. */
  private retire(g: Generation, drain: boolean): Promise<void> {
    const done = g.worker
      .stop({ drain })
      .then(() => g.transport.close?.())
      .catch((err: unknown) =>
        this.o.logger.error({ project: this.o.request.project, err: (err as Error).message }, "stopping a worker generation failed"),
      )
      .finally(() => this.draining.delete(done));
    this.draining.add(done);
    return done;
  }

  /** Stops watching and stops every generation (drain by default); resolves when all are stopped. */
  async stop({ drain = true }: { drain?: boolean } = {}): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      unwatchFile(this.current.module.file, this.onChange);
      await this.reloading;
      void this.retire(this.current, drain);
    }
    while (this.draining.size > 0) await Promise.all([...this.draining]);
  }

  status(): ProjectWorkerStatus {
    const s = this.current.worker.getStats();
    const sum = (k: "inFlight" | "completed" | "failed") => this.generations.reduce((n, g) => n + g.worker.getStats()[k], 0);
    const status: ProjectWorkerStatus["status"] = this.stopped
      ? this.draining.size > 0
        ? "draining"
        : "stopped"
      : s.status === "idle"
        ? "starting"
        : s.status === "draining"
          ? "draining"
          : s.status === "failed"
            ? "failed"
            : "running";
    const r = this.o.request;
    return {
      project: r.project,
      queue: r.queue,
      codeVersion: this.codeVersion,
      module: this.current.module.file,
      workerId: `${this.o.serviceId}-${r.project}-g${this.current.n}`,
      status,
      generation: this.current.n,
      inFlight: sum("inFlight"),
      capacity: r.concurrency ?? 1,
      completed: sum("completed"),
      failed: sum("failed"),
      startedAt: this.startedAt.toISOString(),
      lastReloadAt: this.lastReloadAt?.toISOString() ?? null,
      lastReloadError: this.lastReloadError,
    };
  }
}

/**
 * Follows a queue's current deployed version (`jetflow deploy`, `deploy rollback`) for a worker
 * service project started with `fromStore: true, follow: true`: polls the pointer with a direct get
 * (a worker credential may not create the consumer a KV watch needs) and calls `onChange` when it
 * names a version other than the one running. A version whose switch failed is not retried until
 * the pointer moves again.
 */
import type { WorkerLogger } from "./logger.js";

export interface VersionFollowerOptions {
  /** The version the pointer names now; null when nothing is deployed. */
  read: () => Promise<string | null>;
  /** The version running now; null while none is. */
  running: () => string | null;
  /** Switches to `version`; a rejection is logged and that version skipped until the pointer moves. */
  onChange: (version: string) => Promise<void>;
  intervalMs: number;
  logger: WorkerLogger;
  context: Record<string, unknown>;
}

/** A running follower; `stop()` waits for a switch in progress. */
export interface VersionFollower {
  stop(): Promise<void>;
}

/** Starts polling at once; every wait is bounded by `intervalMs`, and `stop()` ends the loop. */
export function followCurrentVersion(o: VersionFollowerOptions): VersionFollower {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let wake: (() => void) | null = null;
  let failed: string | null = null;

  async function tick(): Promise<void> {
    const version = await o.read();
    if (version === null || version === o.running() || version === failed) return;
    failed = null;
    o.logger.info({ ...o.context, from: o.running(), to: version }, "current version changed: starting it, the previous one drains");
    try {
      await o.onChange(version);
    } catch (err) {
      failed = version;
      o.logger.error(
        { ...o.context, version, err: (err as Error).message },
        "switching to the new current version failed; the running one stays",
      );
    }
  }

  const loop = (async () => {
    while (!stopped) {
      await tick().catch((err: unknown) =>
        o.logger.warn({ ...o.context, err: (err as Error).message }, "reading the current version failed; retrying"),
      );
      if (stopped) break;
      await new Promise<void>((r) => {
        wake = r;
        timer = setTimeout(r, o.intervalMs);
      });
    }
  })();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      wake?.();
      await loop;
    },
  };
}

import type { HealthReport } from "../worker-sdk/health-server.js";
import type { Logger } from "../src/index.js";

/**
 * Logs when the orchestrator's health changes, so losing Postgres or NATS after the start is a
 * warning in the log (naming what failed), not only a field of /healthz nobody may be polling.
 * Checks every `intervalMs`; `stop()` ends the loop.
 */
export function startHealthWatch(opts: { report: () => Promise<HealthReport>; logger: Logger; intervalMs: number }): { stop(): void } {
  let healthy = true;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const check = async () => {
    try {
      const r = await opts.report();
      if (r.healthy !== healthy) {
        healthy = r.healthy;
        if (healthy) opts.logger.info({ health: r }, "orchestrator healthy again");
        else opts.logger.warn({ health: r }, `orchestrator degraded: nats ${String(r.nats)}, database ${String(r.database)}`);
      }
    } catch (err) {
      opts.logger.warn({ err: (err as Error).message }, "orchestrator health check failed");
    }
    if (!stopped) timer = setTimeout(check, opts.intervalMs).unref();
  };
  timer = setTimeout(check, opts.intervalMs).unref();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * The orchestrator's view of the fleet as metrics: the `jetflow.fleet.*` gauges, observed from the
 * worker registry at each metric collection (one registry walk per collection, as `listWorkers`).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { observeFleet } from "../../../src/contract/fleet-metrics.js";
import { listWorkers } from "./registry.js";

export interface FleetMetricsOptions {
  /** Subject prefix of the deployment. Default `jetflow`. */
  prefix?: string;
  /** A worker silent this long counts as `unhealthy`. Default 60 s. */
  unhealthyAfterMs?: number;
  /** Bound on each registry read. Default 5000 ms. */
  timeoutMs?: number;
  /** A failed read (that collection is skipped) or a malformed entry (skipped). */
  onError: (err: unknown) => void;
}

/**
 * Starts observing `jetflow.fleet.workers`, `jetflow.fleet.inflight` and `jetflow.fleet.capacity`
 * (docs/observability.md). Returns the function that stops observing; `nc` stays the caller's.
 */
export function observeFleetMetrics(nc: NatsConnection, o: FleetMetricsOptions): () => void {
  return observeFleet(
    () =>
      listWorkers(nc, {
        ...(o.prefix ? { prefix: o.prefix } : {}),
        ...(o.unhealthyAfterMs ? { unhealthyAfterMs: o.unhealthyAfterMs } : {}),
        ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
        onInvalid: (key, reason) => o.onError(new Error(`skipped registry entry ${key}: ${reason}`)),
      }),
    o.onError,
  );
}

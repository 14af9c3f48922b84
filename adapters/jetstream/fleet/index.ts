/** Worker fleets, orchestrator/operator side: the registry bucket, listing, and remote control. */
export {
  ensureWorkerRegistry,
  listWorkers,
  type EnsureWorkerRegistryOptions,
  type ListWorkersOptions,
  type WorkerListing,
} from "./registry.js";
export { observeFleetMetrics, type FleetMetricsOptions } from "./metrics.js";
export { sendWorkerControl, type SendWorkerControlOptions } from "./control.js";

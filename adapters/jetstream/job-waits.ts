/**
 * Why a PENDING stage of a RUNNING run has not started on the JetStream job transport: its job
 * sits in band normal or low while the higher bands' job consumers hold pending jobs, which every
 * orchestrator pulls first (docs/flow-control.md, "Why is it waiting?"). Judged at the moment of
 * the `runs.get` request from the consumers' `num_pending`, cached for `cacheMs`. A stage parked
 * by a limit keeps that reason instead (the caller merges). A high-band run never gets one.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import type { RunView } from "../../src/kernel/types.js";
import type { Topology } from "../../src/contract/topology.js";
import type { StageWaitJson } from "../../src/contract/api-messages.js";
import { PRIORITY_BANDS, priorityBand } from "../../src/contract/priority.js";
import { parseOptions } from "../../src/contract/options.js";
import { consumerPendingReader } from "./consumer-pending.js";

const ExplainerSchema = z
  .object({
    /** How long a consumer's pending count is reused. */
    cacheMs: z.number().int().min(0).max(60_000).default(1_500),
  })
  .strict();

/** Options of {@link createJobWaitExplainer}. */
export type JobWaitExplainerOptions = z.input<typeof ExplainerSchema>;

/** Explains which of a run's PENDING stages wait behind higher-priority jobs. */
export interface JobWaitExplainer {
  explain(view: RunView): Promise<StageWaitJson[]>;
}

/** Creates an explainer; it holds only caches (nothing to stop). */
export function createJobWaitExplainer(
  deps: { nc: NatsConnection; topology: Topology },
  options: JobWaitExplainerOptions = {},
): JobWaitExplainer {
  const o = parseOptions("job wait explainer", ExplainerSchema, options);
  const pendingOf = consumerPendingReader(deps.nc, deps.topology.streams.jobs, o.cacheMs);
  return {
    async explain(view) {
      if (view.run.status !== "RUNNING") return [];
      const parked = new Set(view.waiting.map((w) => w.stageId));
      const pending = view.stages.filter((s) => s.status === "PENDING" && !parked.has(s.stageId));
      if (pending.length === 0) return [];
      const higher = PRIORITY_BANDS.slice(0, PRIORITY_BANDS.indexOf(priorityBand(view.run.priority)));
      if (higher.length === 0) return [];
      const counts = await Promise.all(higher.map((b) => pendingOf(deps.topology.consumers.jobBands[b])));
      const ahead = counts.reduce((a, b) => a + b, 0);
      if (ahead === 0) return [];
      const what = higher.length === 1 ? `${higher[0]}-priority` : "higher-priority";
      return pending.map((s) => ({
        stageId: s.stageId,
        reason: "lower-priority" as const,
        detail: `behind ${ahead} pending ${what} job(s) in the job queue (run priority ${view.run.priority})`,
        retryAt: null,
        since: s.updatedAt.toISOString(),
      }));
    },
  };
}

/** What the heartbeat bench's processes agree on: env contract, topology, queue, and the line protocol to the parent. */
import { z } from "zod";
import { createTopology, type Topology } from "../../../src/contract/topology.js";

export const QUEUE = "hb";
export const VERSION = "v1";
/** Lines a child writes for the parent start with this; everything else is log. */
export const LINE = "HB ";

export const ChildEnv = z.object({
  HB_NATS_URL: z.string().min(1),
  HB_TOPOLOGY_ID: z.string().regex(/^[a-z0-9]+$/),
  HB_TASKS: z.coerce.number().int().positive(),
  HB_PG_URL: z.string().min(1).optional(),
  HB_HEARTBEAT_MS: z.coerce.number().int().positive().optional(),
});
export type ChildEnv = z.output<typeof ChildEnv>;

export function topologyFor(id: string): Topology {
  return createTopology({ prefix: `hb${id}`, streamPrefix: `HB${id.toUpperCase()}` });
}

/** A message to the parent: one JSON object per line. */
export function tell(msg: Record<string, unknown>): void {
  process.stdout.write(`${LINE}${JSON.stringify(msg)}\n`);
}

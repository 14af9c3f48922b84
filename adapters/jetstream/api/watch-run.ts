import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import type { JetflowClient } from "./client.js";
import { createTopology } from "../../../src/contract/topology.js";

const EventMessage = z
  .object({
    type: z.string(),
    workflowRunId: z.string(),
    stageId: z.string().optional(),
    timestamp: z.string(),
    data: z.record(z.string(), z.unknown()).default({}),
  })
  .passthrough();
/** A workflow event as read from the run's event subject (unknown fields kept). */
export type RunEventMessage = z.output<typeof EventMessage>;

const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

/** How a watched run ended, or TIMEOUT when the bound ran out first. */
export interface WatchResult {
  status: "COMPLETED" | "FAILED" | "CANCELLED" | "TIMEOUT";
  output: unknown;
  error: string | null;
}

/**
 * Follows a run until it ends: subscribes to its events first, then reads its current state
 * (so an event fired before the subscription is not missed), and re-reads the run on each
 * terminal event. Bounded by `timeoutMs`.
 */
export async function watchRun(
  nc: NatsConnection,
  client: JetflowClient,
  runId: string,
  opts: { prefix: string; timeoutMs: number; onEvent?: (e: RunEventMessage) => void },
): Promise<WatchResult> {
  // The topology encodes the run id into a subject-safe token (ids may hold "." or spaces).
  const sub = nc.subscribe(createTopology({ prefix: opts.prefix }).runEventsFilter(runId));
  let timer: NodeJS.Timeout | undefined;
  try {
    const current = await client.getRun({ workflowRunId: runId });
    if (TERMINAL.has(current.run.status)) {
      return { status: current.run.status as WatchResult["status"], output: current.run.output, error: current.run.error };
    }
    const timeout = new Promise<WatchResult>((resolve) => {
      timer = setTimeout(() => resolve({ status: "TIMEOUT", output: null, error: `gave up after ${opts.timeoutMs} ms` }), opts.timeoutMs);
    });
    const follow = (async (): Promise<WatchResult> => {
      for await (const m of sub) {
        const parsed = EventMessage.safeParse(safeJson(m.data));
        if (!parsed.success) continue; // not an event we understand; the run state below is authoritative
        opts.onEvent?.(parsed.data);
        if (parsed.data.type.startsWith("workflow:") && /completed|failed|cancelled/.test(parsed.data.type)) {
          const view = await client.getRun({ workflowRunId: runId });
          if (TERMINAL.has(view.run.status)) {
            return { status: view.run.status as WatchResult["status"], output: view.run.output, error: view.run.error };
          }
        }
      }
      return { status: "TIMEOUT", output: null, error: "event subscription closed" };
    })();
    return await Promise.race([follow, timeout]);
  } finally {
    if (timer) clearTimeout(timer);
    sub.unsubscribe();
  }
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined; // rejected by the schema check
  }
}

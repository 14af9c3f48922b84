/** What every console route needs: the API client, worker control and who acts. */
import type { JetflowClient } from "../adapters/jetstream/api/client.js";
import type { ControlOp, ControlReply } from "../src/contract/fleet.js";

/** Services the console pages use; all of them go through NATS (the console holds no database credentials). */
export interface ConsoleDeps {
  /** The jetflow API client (`<prefix>.api.*`). */
  client: JetflowClient;
  /** Sends a fleet control request (drain/stop/status) to one worker. */
  workerControl(workerId: string, op: ControlOp): Promise<ControlReply>;
  /** Recorded as the actor of every steering action (annotation `jetflow.action`). */
  actor: { kind: "user"; id: string };
  /** Tracing UI link template; `{traceId}` is replaced by the run's trace id. */
  tracingUrl?: string;
  /** Interval of the fallback poll of live sections, in ms (live events normally refresh them first). */
  pollMs: number;
}

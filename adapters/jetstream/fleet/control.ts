/**
 * Operator side of worker control: one request/reply on `<p>.ctl.<workerId>.<op>`, answered by
 * the worker itself (see worker-sdk/nats-fleet.ts). Authorized for the orchestrator and operator
 * users only (nats-server.conf).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { JetflowError } from "../../../src/contract/errors.js";
import { controlSubject, parseControlReply, type ControlOp, type ControlReply, type ControlRequest } from "../../../src/contract/fleet.js";

export interface SendWorkerControlOptions {
  prefix?: string;
  /** Default 5000 ms. */
  timeoutMs?: number;
}

/**
 * Sends `op` to worker `workerId` and returns its reply (`accepted: false` says why not).
 * @throws JetflowError UNAVAILABLE when no worker of that id answers (or the request is denied);
 *   VALIDATION when the reply is malformed.
 */
export async function sendWorkerControl(
  nc: NatsConnection,
  workerId: string,
  op: ControlOp,
  opts: SendWorkerControlOptions = {},
): Promise<ControlReply> {
  const subject = controlSubject(opts.prefix ?? "jetflow", workerId, op);
  const body: ControlRequest = { type: "jetflow.worker.control", v: 1, op, workerId };
  let data: Uint8Array;
  try {
    data = (await nc.request(subject, JSON.stringify(body), { timeout: opts.timeoutMs ?? 5_000 })).data;
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    const why = /no responders|503/i.test(msg) ? `no worker "${workerId}" is listening` : msg;
    throw new JetflowError("UNAVAILABLE", `${op} request to worker "${workerId}" failed: ${why}`);
  }
  const r = parseControlReply(data);
  if (!r.ok)
    throw new JetflowError("VALIDATION", `worker "${workerId}" sent an unreadable ${op} reply: ${r.error.message}`, r.error.issues);
  return r.value;
}

/**
 * The vocabulary of the security suite: a forbidden operation is data (a name, the defect class it
 * belongs to, one small function), and every function resolves with HOW it was refused, or throws
 * `WentThrough` when the server or the broker let it happen. The helpers below are the only ways
 * an operation may count as refused: a permissions violation from the server, a typed rejection
 * from the broker, or no effect where the suite can see every effect.
 */
import type { NatsConnection, MsgHdrs } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { SecurityEnv } from "./env.js";
import { trySubscribe } from "../remote/attacks.js";
import { reportConsumerName } from "../../adapters/jetstream/remote/names.js";

/** The state the operations act on, prepared by the test before any attempt. */
export interface AttackContext {
  env: SecurityEnv;
  /** The attacker's connection (its one credential). */
  atk: NatsConnection;
  queue: string;
  other: string;
  me: string;
  peerId: string;
  /** Tasks the attacker was NOT delivered: held by the peer, of queue b, of its own queue at version v2. */
  victims: { peer: string; b: string; v2: string; peerRun: string; bRun: string; peerSeq: number };
  /** The task the attacker was legitimately delivered and started (its own lease). */
  own: { taskId: string; runId: string; attempt: number; leaseToken: string; capability: string; ackSubject: string };
  /**
   * Messages the server had to accept on the attacker's own subjects (reports, refused by the
   * broker later; writes of its own registry entry), and junk tasks the suite itself published.
   */
  counts: { reports: number; junkTasks: number; ownRegistryWrites: number };
  /** The peer's fleet member: control requests it obeyed. */
  peerStops: string[];
  /** Credential files prepared by `jetflow creds` (creds kind only). */
  creds?: { expired: string; expiresAt: number; revoked: string; spare: string };
}

export interface ForbiddenOperation {
  name: string;
  /** The defect class or the acceptance list entry it belongs to. */
  kind: string;
  /** Only for one deployment kind (e.g. credential files exist only with `jetflow creds`). */
  only?: SecurityEnv["kind"];
  run(c: AttackContext): Promise<string>;
}

export class WentThrough extends Error {
  constructor(what: string) {
    super(`WENT THROUGH: ${what}`);
  }
}

const PERMISSION = /permissions violation/i;

/** `p` must fail with the server's permissions violation. */
export async function denied(p: Promise<unknown>, what = "request"): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e as Error,
  );
  if (!err) throw new WentThrough(`${what} was answered`);
  if (!PERMISSION.test(String(err.message))) throw new WentThrough(`${what} failed, but not by permissions: ${err.message}`);
  return `denied: ${err.message}`;
}

/** A publish (as a request, so the server's refusal comes back to it) the server must deny. */
export function deniedPublish(nc: NatsConnection, subject: string, body: string | Uint8Array = "{}", headers?: MsgHdrs): Promise<string> {
  return denied(nc.request(subject, body, { timeout: 3_000, ...(headers ? { headers } : {}) }), `publish ${subject}`);
}

/** A subscription the server must deny. */
export async function deniedSubscribe(nc: NatsConnection, subject: string): Promise<string> {
  const r = await trySubscribe(nc, subject, 3_000);
  if (!PERMISSION.test(r)) throw new WentThrough(`subscribe ${subject}: ${r}`);
  return `denied: ${r}`;
}

/** A broker request (allowed subject) whose reply must refuse: `accepted: false` or a typed error reply. */
export async function brokerRefuses(nc: NatsConnection, subject: string, body: unknown): Promise<string> {
  const m = await nc.request(subject, JSON.stringify(body), { timeout: 10_000 });
  const reply = m.json<{ accepted?: boolean; reason?: string; error?: { code: string; message: string }; url?: string }>();
  if (reply.error) return `rejected: ${reply.error.code}: ${reply.error.message}`;
  if (reply.accepted === false) return `refused: ${reply.reason ?? "accepted=false"}`;
  throw new WentThrough(`${subject} answered ${JSON.stringify(reply).slice(0, 200)}`);
}

/** A task's state columns, read by the orchestrator side. */
export async function taskRow(c: AttackContext, taskId: string): Promise<string> {
  const rows = await c.env.sql.unsafe(
    `select status, attempt, lease_token, worker_id, outcome, output, error, heartbeat_details from "${c.env.schema}".activity_tasks where task_id = $1`,
    [taskId],
  );
  return JSON.stringify(rows[0] ?? null);
}

/** Runs `act` and fails with WentThrough if task `taskId`'s state changed. */
export async function leavesTask(c: AttackContext, taskId: string, act: () => Promise<string>): Promise<string> {
  const before = await taskRow(c, taskId);
  const how = await act();
  const after = await taskRow(c, taskId);
  if (after !== before) throw new WentThrough(`task ${taskId} changed: ${before} -> ${after}`);
  return how;
}

/** Waits (bounded) until the report consumer of `queue` has handled everything in its stream. */
export async function reportsSettled(c: AttackContext): Promise<void> {
  const jsm = await jetstreamManager(c.env.orch);
  const end = Date.now() + 20_000;
  for (;;) {
    const info = await jsm.consumers.info(c.env.topology.streams.reports, reportConsumerName(c.queue));
    if (info.num_pending === 0 && info.num_ack_pending === 0) return;
    if (Date.now() > end) throw new Error(`reports of ${c.queue} still pending after 20 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

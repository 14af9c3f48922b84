/**
 * A bounded single pull from a durable pull consumer, and the JetStream ack protocol on the
 * pulled message. Written against the raw `$JS.API.CONSUMER.MSG.NEXT` API because the client's
 * `consumer.next()` cannot wait less than 1 s, and `dequeue({ waitMs: 0 })` must not wait at all.
 * Ack subjects follow ADR-15 (`$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>`,
 * or the 12-token form with domain and account hash).
 */
import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { nanos } from "@nats-io/transport-node";
import { JetflowError } from "../../src/contract/errors.js";

/** Delivery metadata parsed from a message's ack subject. */
export interface DeliveryMeta {
  stream: string;
  consumer: string;
  deliveryCount: number;
  streamSequence: number;
  /** When the message was stored, ms since the epoch. */
  storedAtMs: number;
  /** Messages still pending on the consumer after this one. */
  pending: number;
}

/** A message pulled from a consumer, with the ack operations the server understands. */
export interface PulledMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs | undefined;
  readonly meta: DeliveryMeta;
  /** Acks and waits for the server's confirmation (bounded by `timeoutMs`). */
  ack(timeoutMs: number): Promise<void>;
  /** Tells the server the message is still being worked on: AckWait restarts. */
  working(): Promise<void>;
  /** Redeliver after `delayMs` (0 = now). Counts as a delivery. */
  nak(delayMs: number): Promise<void>;
  /** Never redeliver. (2.9 ignores a reason text, so none is sent.) */
  term(): Promise<void>;
}

/** Parses an ack reply subject; returns null if it is not one. */
export function parseAckSubject(reply: string): DeliveryMeta | null {
  const t = reply.split(".");
  if (t[0] !== "$JS" || t[1] !== "ACK") return null;
  // 9 tokens: legacy form; 11+ tokens: domain and account hash follow "$JS.ACK".
  const base = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1;
  if (base < 0) return null;
  const num = (i: number): number => Number(t[base + i]);
  const meta: DeliveryMeta = {
    stream: t[base]!,
    consumer: t[base + 1]!,
    deliveryCount: num(2),
    streamSequence: num(3),
    storedAtMs: Math.floor(num(5) / 1e6),
    pending: num(6),
  };
  return Number.isFinite(meta.deliveryCount) && Number.isFinite(meta.streamSequence) ? meta : null;
}

const CLOSED = Symbol("closed");
const ACK = new TextEncoder().encode("+ACK");
const WPI = new TextEncoder().encode("+WPI");
const TERM = new TextEncoder().encode("+TERM");
const NAK = new TextEncoder().encode("-NAK");

/** The ack operations of a pulled message `m` (its reply is the ack subject `meta` was parsed from). */
export function wrap(nc: NatsConnection, m: Msg, meta: DeliveryMeta): PulledMessage {
  const reply = m.reply!;
  // Publish then flush: the flush round-trip proves the server has read the ack message.
  const send = async (payload: Uint8Array): Promise<void> => {
    nc.publish(reply, payload);
    await nc.flush();
  };
  return {
    subject: m.subject,
    data: m.data,
    headers: m.headers,
    meta,
    async ack(timeoutMs) {
      // An ack sent as a request is confirmed by the server once applied (ackAck).
      await nc.request(reply, ACK, { timeout: timeoutMs });
    },
    working: () => send(WPI),
    nak: (delayMs) => send(delayMs > 0 ? new TextEncoder().encode(`-NAK ${JSON.stringify({ delay: nanos(delayMs) })}`) : NAK),
    term: () => send(TERM),
  };
}

export interface PullOptions {
  stream: string;
  consumer: string;
  /** 0 = answer at once (no_wait); otherwise the server holds the request this long. */
  waitMs: number;
  /** Extra client-side slack over `waitMs` before giving up on the server's answer. */
  graceMs?: number;
}

/**
 * Pulls at most one message. Resolves null when none arrived in time.
 * @throws JetflowError UNAVAILABLE when the consumer is missing or the server refuses the pull.
 */
export async function pullOne(nc: NatsConnection, opts: PullOptions): Promise<PulledMessage | null> {
  const body = opts.waitMs <= 0 ? { batch: 1, no_wait: true } : { batch: 1, expires: nanos(opts.waitMs) };
  const subject = `$JS.API.CONSUMER.MSG.NEXT.${opts.stream}.${opts.consumer}`;
  let m: Msg;
  try {
    if (nc.isClosed()) throw new Error("connection closed");
    // A noMux request in flight when the connection closes never settles: race it with closed().
    // It resolves to a sentinel (not a rejection) so the losing side of the race never goes unhandled.
    const closed = nc.closed().then((): typeof CLOSED => CLOSED);
    const r = await Promise.race([
      nc.request(subject, JSON.stringify(body), { timeout: Math.max(0, opts.waitMs) + (opts.graceMs ?? 5_000), noMux: true }),
      closed,
    ]);
    if (r === CLOSED) throw new Error("connection closed during the pull");
    m = r;
  } catch (err) {
    throw new JetflowError("UNAVAILABLE", `pull from ${opts.stream}/${opts.consumer} failed: ${(err as Error).message}`);
  }
  const code = m.headers?.code ?? 0;
  if (code === 404 || code === 408) return null; // no messages / request expired: the normal empty answers
  if (code !== 0) {
    // 409 covers a deleted consumer, exceeded MaxWaiting/MaxAckPending and leadership changes.
    if (code === 409 && /max.*(waiting|ack pending)/i.test(m.headers?.description ?? "")) return null;
    throw new JetflowError(
      "UNAVAILABLE",
      `pull from ${opts.stream}/${opts.consumer} answered ${code} ${m.headers?.description ?? ""}`.trim(),
    );
  }
  const meta = m.reply ? parseAckSubject(m.reply) : null;
  if (!meta)
    throw new JetflowError("INTERNAL", `pulled a message on ${m.subject} without a JetStream ack subject (reply "${m.reply ?? ""}")`);
  return wrap(nc, m, meta);
}

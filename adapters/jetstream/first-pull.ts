/**
 * One long pull on several consumers at once: a `{batch: 1, expires}` request to each, all
 * answered on ONE inbox, which is drained as soon as the first message arrives. nats-server
 * (2.9 included) skips a waiting pull request whose reply subject has lost interest, so the
 * requests left behind never deliver later into nothing. A message the server sent before it saw
 * the unsubscribe still arrives before the drain's flush completes and goes to `onLate`: the
 * caller must use it or give it back. Used by the banded job transport when every band is empty.
 */
import { createInbox, nanos, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { JetflowError } from "../../src/contract/errors.js";
import { parseAckSubject, wrap, type PulledMessage } from "./pull.js";

/** Options of {@link pullFirst}. */
export interface FirstPullOptions {
  stream: string;
  consumers: readonly string[];
  /** How long the server holds each request (> 0). */
  waitMs: number;
  /** Client-side slack over `waitMs` before giving up on the answers. Default 5000 ms. */
  graceMs?: number;
  /** A delivery that arrived after the first (sent before the server saw the unsubscribe); the caller owns it. */
  onLate(m: PulledMessage): void;
  /** A failure after the pull resolved (a late message without an ack subject, a drain that failed). */
  onLateError?(err: Error): void;
}

/**
 * Resolves with the first message as soon as it arrives (no wait for the others: a race window
 * here cost every idle dispatch its length), or null when every request ended empty or the bound
 * passed.
 * @throws JetflowError UNAVAILABLE when the connection is closed or a consumer refused the pull with nothing pulled.
 */
export function pullFirst(nc: NatsConnection, opts: FirstPullOptions): Promise<PulledMessage | null> {
  if (nc.isClosed()) return Promise.reject(new JetflowError("UNAVAILABLE", "connection closed"));
  const inbox = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
  let open = opts.consumers.length;
  const lateError = (err: Error) => opts.onLateError?.(err);
  return new Promise<PulledMessage | null>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, first: PulledMessage | null = null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Drain, not unsubscribe: what the server sent before it saw the UNSUB is still delivered
      // (to onLate) until the drain's flush returns, instead of waiting out its AckWait.
      if (!sub.isClosed() && !nc.isClosed())
        sub.drain().catch((e: unknown) => lateError(new JetflowError("UNAVAILABLE", `draining a long pull failed: ${String(e)}`)));
      if (err) reject(err);
      else resolve(first);
    };
    const onMessage = (m: Msg): void => {
      const code = m.headers?.code ?? 0;
      if (code === 0 && m.reply) {
        const meta = parseAckSubject(m.reply);
        const bad = new JetflowError("INTERNAL", `pulled a message on ${m.subject} without a JetStream ack subject`);
        if (settled) return meta ? opts.onLate(wrap(nc, m, meta)) : lateError(bad);
        if (!meta) return finish(bad);
        return finish(null, wrap(nc, m, meta));
      }
      if (settled) return;
      if (code === 404 || code === 408 || (code === 409 && /max.*(waiting|ack pending)/i.test(m.headers?.description ?? ""))) {
        if (--open <= 0) finish(null);
        return;
      }
      finish(new JetflowError("UNAVAILABLE", `pull from ${opts.stream} answered ${code} ${m.headers?.description ?? ""}`.trim()));
    };
    const sub = nc.subscribe(inbox, {
      callback: (err, m) => (err ? finish(new JetflowError("UNAVAILABLE", `pull failed: ${err.message}`)) : onMessage(m)),
    });
    const timer = setTimeout(() => finish(null), opts.waitMs + (opts.graceMs ?? 5_000));
    void nc.closed().then(() => finish(new JetflowError("UNAVAILABLE", "connection closed during the pull")));
    const body = JSON.stringify({ batch: 1, expires: nanos(Math.max(1, opts.waitMs)) });
    for (const c of opts.consumers) nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${opts.stream}.${c}`, body, { reply: inbox });
  });
}

/** Options of {@link pullReadyOne}. */
export interface ReadyPullOptions {
  stream: string;
  consumer: string;
  /** How long to wait for the answer before counting the consumer as empty for now. */
  quickMs: number;
  /** How long to keep listening after that for a late delivery, which goes to `onLate`. */
  keepMs: number;
  onLate(m: PulledMessage): void;
}

/**
 * One no_wait pull of at most one message. nats-server 2.9 sometimes parks a no_wait pull instead
 * of answering (when it arrives as a delivery lapses; often under concurrent pulls) and may
 * deliver into it later. So a pull unanswered after `quickMs` counts as empty, but its inbox stays
 * subscribed for `keepMs`: a late delivery is handed to `onLate` instead of being lost until
 * AckWait (once the inbox is gone the server skips the parked request: no interest).
 */
export function pullReadyOne(nc: NatsConnection, opts: ReadyPullOptions): Promise<PulledMessage | null> {
  if (nc.isClosed()) return Promise.reject(new JetflowError("UNAVAILABLE", "connection closed"));
  const inbox = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
  return new Promise<PulledMessage | null>((resolve, reject) => {
    let answered = false;
    const answer = (m: PulledMessage | null, err?: Error) => {
      if (answered) {
        if (m) opts.onLate(m);
        return;
      }
      answered = true;
      clearTimeout(quick);
      if (err) reject(err);
      else resolve(m);
    };
    const done = () => {
      clearTimeout(quick);
      clearTimeout(keep);
      sub.unsubscribe();
    };
    const sub = nc.subscribe(inbox, {
      max: 1,
      callback: (err, m) => {
        done();
        if (err) return answer(null, new JetflowError("UNAVAILABLE", `pull failed: ${err.message}`));
        const code = m.headers?.code ?? 0;
        if (code === 0 && m.reply) {
          const meta = parseAckSubject(m.reply);
          if (!meta) return answer(null, new JetflowError("INTERNAL", `pulled a message on ${m.subject} without a JetStream ack subject`));
          return answer(wrap(nc, m, meta));
        }
        if (code === 404 || code === 408 || (code === 409 && /max.*(waiting|ack pending)/i.test(m.headers?.description ?? "")))
          return answer(null);
        answer(
          null,
          new JetflowError(
            "UNAVAILABLE",
            `pull from ${opts.stream}/${opts.consumer} answered ${code} ${m.headers?.description ?? ""}`.trim(),
          ),
        );
      },
    });
    const quick = setTimeout(() => answer(null), opts.quickMs);
    const keep = setTimeout(done, opts.quickMs + opts.keepMs);
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${opts.stream}.${opts.consumer}`, JSON.stringify({ batch: 1, no_wait: true }), { reply: inbox });
  });
}

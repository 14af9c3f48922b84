/**
 * One no-wait pull of up to `max` task messages: whatever the consumer has ready, in a single
 * round trip (`{batch, no_wait}` on `$JS.API.CONSUMER.MSG.NEXT`). The server sends the messages,
 * then a 404 (none) or 408 (fewer than asked) status; a full batch ends without one. Replies
 * arrive on an inbox under the connection's own prefix, which a scoped worker may subscribe to.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";

/** Why a ready-pull ended without its messages (closed connection, refused pull, no answer in time). */
export class ReadyPullError extends Error {
  override name = "ReadyPullError";
  /** The server did not answer at all (on nats-server 2.9: the consumer does not exist). */
  constructor(
    message: string,
    readonly silent = false,
  ) {
    super(message);
  }
}

/**
 * Resolves with the pulled messages (possibly none), in delivery order.
 * @throws ReadyPullError when the server refused the pull or did not finish answering within `timeoutMs`.
 */
export function pullReady(nc: NatsConnection, nextSubject: string, max: number, timeoutMs: number): Promise<Msg[]> {
  if (nc.isClosed()) return Promise.reject(new ReadyPullError("connection closed"));
  const prefix = (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
  const inbox = createInbox(prefix);
  const got: Msg[] = [];
  return new Promise<Msg[]>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sub.unsubscribe();
      if (err && got.length === 0) reject(err);
      else resolve(got); // messages already delivered are ours to hand out or give back, whatever ended the pull
    };
    const sub: Subscription = nc.subscribe(inbox, {
      callback: (err, m) => {
        if (err) return finish(new ReadyPullError(`pull failed: ${err.message}`));
        const code = m.headers?.code ?? 0;
        if (code === 0 && m.reply) {
          got.push(m);
          if (got.length >= max) finish(null);
          return;
        }
        if (code === 404 || code === 408 || (code === 409 && /max.*(waiting|ack pending)/i.test(m.headers?.description ?? ""))) {
          return finish(null);
        }
        finish(new ReadyPullError(`pull answered ${code} ${m.headers?.description ?? ""}`.trim()));
      },
    });
    // nats.js hands a publish's permission violation to the subscription whose `requestSubject` is
    // the denied subject (that is how its own noMux requests fail): a denied pull then fails at once.
    (sub as Subscription & { requestSubject?: string }).requestSubject = nextSubject;
    const timer = setTimeout(
      () => finish(new ReadyPullError(`no complete answer to the pull within ${timeoutMs} ms`, got.length === 0)),
      timeoutMs,
    );
    nc.publish(nextSubject, JSON.stringify({ batch: max, no_wait: true }), { reply: inbox });
  });
}

/**
 * Cached reads of JetStream consumers' pending counts, for the "why is it waiting?" explainers
 * (remote/task-waits.ts, job-waits.ts): a console polling many runs costs one consumer info per
 * consumer per period, not one per run.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";

/** Reads a value at most once per `ms`; concurrent readers share one read. */
export function cached<T>(ms: number, read: () => Promise<T>): () => Promise<T> {
  let at = 0;
  let value: Promise<T> | null = null;
  return () => {
    if (!value || Date.now() - at > ms) {
      at = Date.now();
      const p = read();
      value = p;
      // A failed read is not kept: the next request tries again (the caller sees the error).
      p.catch(() => {
        if (value === p) value = null;
      });
    }
    return value;
  };
}

/**
 * `num_pending` of a consumer of `stream` (deliveries not yet handed out), cached for `cacheMs`;
 * an absent consumer holds none. Remembers at most 1,000 consumers.
 */
export function consumerPendingReader(nc: NatsConnection, stream: string, cacheMs: number): (consumer: string) => Promise<number> {
  let jsm: Promise<JetStreamManager> | null = null;
  const readers = new Map<string, () => Promise<number>>();
  return (consumer) => {
    let reader = readers.get(consumer);
    if (!reader) {
      if (readers.size > 1_000) readers.clear();
      reader = cached(cacheMs, async () => {
        jsm ??= jetstreamManager(nc, { checkAPI: false });
        try {
          return (await (await jsm).consumers.info(stream, consumer)).num_pending;
        } catch (err) {
          if ((err as { code?: unknown }).code === 10014 || /consumer not found/i.test(String((err as Error).message))) return 0;
          throw err;
        }
      });
      readers.set(consumer, reader);
    }
    return reader();
  };
}

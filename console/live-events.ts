/**
 * The console's live feed: one ordered (ephemeral, read-only) JetStream consumer on the events
 * stream, from "now" on, fanned out to every open browser. The `operator` NATS user may create
 * such watchers but not subscribe to `<p>.events.>` directly, hence a consumer and not a core
 * subscription. When the stream is missing or the consumer fails, it retries every `retryMs`
 * (the pages' slow poll keeps them current meanwhile).
 */
import { DeliverPolicy, jetstream, type ConsumerMessages } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { parseEvent } from "../src/contract/event-message.js";
import type { Topology } from "../src/contract/topology.js";
import type { Logger } from "../src/ports/logger.js";

/** What the browser is told about an event: enough to know which rows and sections to refresh. */
export interface RunEventNotice {
  runId: string;
  workflowId: string;
  type: string;
  stageId?: string;
}

/** A running feed; `stop()` closes the consumer and ends the retry loop. */
export interface LiveEvents {
  /** Calls `listener` for every event from now on; returns the unsubscribe function. */
  subscribe(listener: (notice: RunEventNotice) => void): () => void;
  stop(): Promise<void>;
}

/** Starts the feed in the background (it never throws; failures are logged and retried). */
export function startLiveEvents(nc: NatsConnection, opts: { topology: Topology; logger: Logger; retryMs?: number }): LiveEvents {
  const listeners = new Set<(notice: RunEventNotice) => void>();
  const stopped = new AbortController();
  const retryMs = opts.retryMs ?? 5_000;
  let messages: ConsumerMessages | undefined;

  const pause = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, retryMs);
      stopped.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });

  const loop = async (): Promise<void> => {
    while (!stopped.signal.aborted) {
      try {
        const consumer = await jetstream(nc).consumers.get(opts.topology.streams.events, {
          filter_subjects: opts.topology.filters.events,
          deliver_policy: DeliverPolicy.New,
        });
        if (stopped.signal.aborted) return;
        messages = await consumer.consume();
        for await (const m of messages) {
          const parsed = parseEvent(m.data);
          if (!parsed.ok) {
            opts.logger.warn({ subject: m.subject, err: parsed.error.message }, "console: skipped an event that does not parse");
            continue;
          }
          const e = parsed.value;
          const notice: RunEventNotice = {
            runId: e.workflowRunId,
            workflowId: e.workflowId,
            type: e.type,
            ...(e.stageId ? { stageId: e.stageId } : {}),
          };
          for (const l of listeners) l(notice);
        }
      } catch (err) {
        if (stopped.signal.aborted) return;
        opts.logger.warn({ err: (err as Error).message, retryMs }, "console: the live event feed failed; pages fall back to polling");
      }
      if (!stopped.signal.aborted) await pause();
    }
  };
  const done = loop();

  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      stopped.abort();
      listeners.clear();
      await messages?.close();
      await done;
    },
  };
}

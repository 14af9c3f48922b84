/**
 * Workflow events on JetStream: the outbox flusher's EventSink, and a live reader of one run's
 * events for `jetflow runs watch`. Events go to `<p>.events.<workflowId>.<runId>.<type>` on the
 * events stream (limits retention, max age) with `Nats-Msg-Id` = event id, so an outbox row
 * flushed twice inside the duplicate window is stored once.
 */
import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { ValidationError } from "../../src/contract/errors.js";
import type { EventSink, WorkflowEvent } from "../../src/ports/event-sink.js";
import { silentLogger, type Logger } from "../../src/ports/logger.js";
import { ProtocolError } from "../../src/contract/protocol-error.js";
import { encodeEvent, parseEvent } from "../../src/contract/event-message.js";
import { Headers, Schemas } from "../../src/contract/headers.js";
import { injectTraceHeaders } from "../../src/contract/trace-headers.js";
import { createTopology, type Topology } from "../../src/contract/topology.js";
import { parseEventSinkOptions } from "./options.js";

/** Options of {@link createJetStreamEventSink}. */
export interface JetStreamEventSinkOptions {
  topology?: Topology;
  /** Bound on the PubAck. Default 5000 ms. */
  ackTimeoutMs?: number;
}

/** An EventSink whose publish resolves once JetStream stored the event (or recognised a duplicate). */
export function createJetStreamEventSink(nc: NatsConnection, options: JetStreamEventSinkOptions = {}): EventSink {
  const opts = parseEventSinkOptions(options);
  const topology = opts.topology ?? createTopology();
  const js = jetstream(nc);
  const timeout = opts.ackTimeoutMs;
  return {
    async publish(event: WorkflowEvent): Promise<void> {
      let body: Uint8Array;
      try {
        body = encodeEvent(event);
      } catch (err) {
        if (err instanceof ProtocolError) throw new ValidationError(`event ${event.id}`, err.issues);
        throw err;
      }
      const h = natsHeaders();
      h.set(Headers.Schema, Schemas.Event);
      h.set(Headers.EventType, event.type);
      h.set(Headers.RunId, event.workflowRunId);
      h.set(Headers.WorkflowId, event.workflowId);
      if (event.stageId) h.set(Headers.StageId, event.stageId);
      injectTraceHeaders(h); // the span that caused the event (e.g. the stage attempt)
      await js.publish(topology.eventSubject(event.workflowId, event.workflowRunId, event.type), body, {
        msgID: event.id,
        headers: h,
        timeout,
      });
    },
  };
}

/** Options of {@link watchRunEvents}: topology, whether to replay stored events first, and an abort signal. */
export interface WatchRunEventsOptions {
  topology?: Topology;
  /** Replay the run's stored events first (default true); false = only events published from now on. */
  fromStart?: boolean;
  /** Stops the watch (same as calling stop()). */
  signal?: AbortSignal;
  /** Told about stored messages that are not valid events; default: logged as warnings and skipped. */
  onInvalid?: (subject: string, error: ProtocolError) => void;
  logger?: Logger;
}

/** A live, ordered sequence of one run's events; iterate it, and stop() it when done. */
export interface RunEventWatch extends AsyncIterable<WorkflowEvent> {
  stop(): Promise<void>;
}

/**
 * Follows one run's events in stream order through an ordered (ephemeral, flow-controlled,
 * self-healing) consumer filtered on `<p>.events.*.<runId>.*`.
 */
export async function watchRunEvents(nc: NatsConnection, runId: string, opts: WatchRunEventsOptions = {}): Promise<RunEventWatch> {
  const topology = opts.topology ?? createTopology();
  const logger = opts.logger ?? silentLogger;
  const onInvalid =
    opts.onInvalid ?? ((subject, error) => logger.warn({ subject, err: error.message }, "skipped an event message that does not parse"));
  // "From now on" is pinned to the stream's last sequence at call time, so an event published
  // after this function resolves is never missed, whenever the ordered consumer gets created.
  const start =
    opts.fromStart === false
      ? {
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: (await (await jetstreamManager(nc)).streams.info(topology.streams.events)).state.last_seq + 1,
        }
      : { deliver_policy: DeliverPolicy.All };
  const consumer = await jetstream(nc).consumers.get(topology.streams.events, {
    filter_subjects: topology.runEventsFilter(runId),
    ...start,
  });
  const messages: ConsumerMessages = await consumer.consume();
  const stop = async (): Promise<void> => {
    await messages.close();
  };
  opts.signal?.addEventListener(
    "abort",
    () => void stop().catch((err) => logger.warn({ err: (err as Error).message }, "closing an event watch failed")),
    { once: true },
  );
  return {
    stop,
    async *[Symbol.asyncIterator]() {
      for await (const m of messages) {
        const parsed = parseEvent(m.data);
        if (!parsed.ok) {
          onInvalid(m.subject, parsed.error);
          continue;
        }
        yield parsed.value as WorkflowEvent;
      }
    },
  };
}

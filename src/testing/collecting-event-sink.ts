import type { EventSink, WorkflowEvent } from "../ports/event-sink.js";
import { deepCopy } from "./clone.js";

interface Waiter {
  predicate: (e: WorkflowEvent) => boolean;
  resolve: (e: WorkflowEvent) => void;
}

/**
 * An EventSink that keeps what it receives. Like every sink it de-duplicates on the event id
 * (outbox delivery is at-least-once), and counts the duplicates it dropped so a test can assert
 * on redelivery too.
 */
export class CollectingEventSink implements EventSink {
  private readonly received: WorkflowEvent[] = [];
  private readonly ids = new Set<string>();
  private waiters: Waiter[] = [];
  private failure: ((e: WorkflowEvent) => Error | undefined) | null = null;
  /** Publishes dropped because an event with the same id was already collected. */
  duplicates = 0;

  async publish(event: WorkflowEvent): Promise<void> {
    const err = this.failure?.(event);
    if (err) throw err;
    if (this.ids.has(event.id)) {
      this.duplicates++;
      return;
    }
    const copy = deepCopy(event);
    this.ids.add(copy.id);
    this.received.push(copy);
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.predicate(copy)) w.resolve(deepCopy(copy));
      else still.push(w);
    }
    this.waiters = still;
  }

  /** Collected events in arrival order (copies). */
  get events(): WorkflowEvent[] {
    return deepCopy(this.received);
  }

  /** Collected events of one type, in arrival order. */
  ofType(type: WorkflowEvent["type"]): WorkflowEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  /** Forgets collected events and the duplicate count (pending waiters keep waiting). */
  clear(): void {
    this.received.length = 0;
    this.ids.clear();
    this.duplicates = 0;
  }

  /**
   * Makes `publish` throw the returned error (when `decide` returns one), to test outbox
   * retries and dead letters; `null` restores normal delivery.
   */
  failWith(decide: ((e: WorkflowEvent) => Error | undefined) | null): void {
    this.failure = decide;
  }

  /**
   * Resolves with the first collected event matching `predicate` (already collected or arriving
   * within `timeoutMs`); rejects with a message listing what did arrive when none matches in time.
   */
  waitFor(predicate: (e: WorkflowEvent) => boolean, timeoutMs = 5_000): Promise<WorkflowEvent> {
    const hit = this.received.find(predicate);
    if (hit) return Promise.resolve(deepCopy(hit));
    return new Promise<WorkflowEvent>((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        const seen = this.received.map((e) => (e.stageId ? `${e.type}(${e.stageId})` : e.type));
        reject(
          new Error(
            `CollectingEventSink.waitFor: no matching event within ${timeoutMs}ms; ` +
              `${seen.length} event(s) collected: ${seen.length ? seen.join(", ") : "none"}`,
          ),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

import type { Persistence } from "../ports/persistence.js";
import type { Clock } from "../ports/clock.js";
import type { Logger } from "../ports/logger.js";

/** Ids marked in one statement at most; a longer backlog is marked in several. */
const MAX_IDS_PER_STATEMENT = 1_000;

/**
 * Marks fast-path deliveries published in batches: every command used to spend one UPDATE (and
 * one round trip) after its commit just to set `published_at` on its own rows. Ids queued here
 * wait `delayMs` (the kernel's `outboxMarkDelayMs`) and are then written together, plus whatever
 * queued while that statement ran: a run's commands (create, claim, start, commit) share marks
 * even on one lane, and under load hundreds of commands share one UPDATE. The delay only holds
 * back the `published_at` stamp; the rows stay claimed by their writer (`outboxClaimMs`, 30 s by
 * default) meanwhile, so no flusher touches them. Its timer is unref'd: it never keeps a process
 * alive, and a host that stops cleanly drains the marks with its last `outbox.flush`.
 *
 * Nothing is lost when a mark never lands (crash, database blip): the rows stay claimed by their
 * writer until the claim expires, then `outbox.flush` delivers them again — the outbox is
 * at-least-once, and job ids de-duplicate on every transport. `outbox.flush` drains this queue
 * first so it never redelivers what this process already delivered.
 */
export class OutboxMarks {
  private pending: string[] = [];
  private running: Promise<void> | null = null;
  private scheduled = false;

  constructor(
    private readonly persistence: Pick<Persistence, "markOutboxPublished">,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** How long a queued id waits for company; 0 writes on the next event-loop turn. */
    private readonly delayMs = 0,
  ) {}

  /** Queues `ids` to be marked published soon; never throws, never waits. */
  add(ids: string[]): void {
    if (ids.length === 0) return;
    this.pending.push(...ids);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.running || this.pending.length === 0) return;
    this.scheduled = true;
    const fire = () => {
      this.scheduled = false;
      void this.drain();
    };
    if (this.delayMs <= 0 || this.pending.length >= MAX_IDS_PER_STATEMENT) setImmediate(fire);
    else setTimeout(fire, this.delayMs).unref();
  }

  /** Resolves once every id queued before the call is marked (or its marking failed and was logged). */
  async drain(): Promise<void> {
    while (this.running) await this.running;
    if (this.pending.length === 0) return;
    this.running = this.writeAll().finally(() => {
      this.running = null;
      // Ids queued between the last statement and now.
      this.schedule();
    });
    await this.running;
  }

  private async writeAll(): Promise<void> {
    while (this.pending.length > 0) {
      const ids = this.pending.splice(0, MAX_IDS_PER_STATEMENT);
      try {
        await this.persistence.markOutboxPublished(ids, this.clock.now());
      } catch (err) {
        // The claim expires and a flusher redelivers: a duplicate, never a loss.
        this.logger.error(
          { err: err instanceof Error ? err.message : String(err), rows: ids.length },
          "could not mark outbox rows published",
        );
      }
    }
  }
}

/**
 * Which job bands may have work, so `dequeue` does not spend a round trip on an empty high or low
 * band before every normal job (that halved raw dequeue throughput). A core NATS subscription on
 * the high and low band subjects sees every publish into them (the stream captures the same
 * message); a band is asked again when a publish arrived since it was last found empty, and at
 * least every {@link RECHECK_MS} anyway: that covers redeliveries (which publish nothing) and a
 * publish seen before the stream stored it. The normal band is always asked. If the subscription
 * fails (no subscribe permission), every band is always asked, as without hints.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Topology } from "../../src/contract/topology.js";
import type { PriorityBand } from "../../src/contract/priority.js";
import type { Logger } from "../../src/ports/logger.js";

/** Longest time a band found empty is not asked again without a publish into it. */
export const RECHECK_MS = 250;

interface Hint {
  /** Publishes seen into the band. */
  seen: number;
  /** `seen` when the band was last found empty (a pull sent then answered empty). */
  emptyAsOf: number;
  /** performance.now() of that pull. */
  emptyAt: number;
}

/** Publish hints for the high and low job bands of one transport. */
export class BandHints {
  private readonly hints = new Map<PriorityBand, Hint>();
  private readonly subs: Subscription[] = [];
  private broken = false;

  constructor(nc: NatsConnection, topology: Topology, logger: Logger) {
    for (const band of ["high", "low"] as const) {
      const hint: Hint = { seen: 0, emptyAsOf: -1, emptyAt: 0 };
      this.hints.set(band, hint);
      this.subs.push(
        nc.subscribe(topology.jobBandFilters[band], {
          callback: (err) => {
            if (!err) {
              hint.seen++;
              return;
            }
            if (!this.broken) logger.warn({ band, err: String(err) }, "no publish hints for a job band; asking every band on each dequeue");
            this.broken = true;
          },
        }),
      );
    }
  }

  /** Whether `band` must be asked now; `token` is handed to {@link empty} if it answers empty. */
  shouldAsk(band: PriorityBand, now = performance.now()): { ask: boolean; token: number } {
    const h = this.hints.get(band);
    if (!h || this.broken) return { ask: true, token: h?.seen ?? 0 };
    return { ask: h.seen > h.emptyAsOf || now - h.emptyAt >= RECHECK_MS, token: h.seen };
  }

  /** A pull on `band` sent when `token` publishes had been seen answered empty. */
  empty(band: PriorityBand, token: number, sentAt: number): void {
    const h = this.hints.get(band);
    if (!h) return;
    h.emptyAsOf = token;
    h.emptyAt = sentAt;
  }

  close(): void {
    for (const s of this.subs.splice(0)) s.unsubscribe();
  }
}

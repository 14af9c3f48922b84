/**
 * Priority bands on JetStream. nats-server 2.9 has no priority groups and a consumer delivers in
 * stream order, so priority is a subject split: every numeric priority falls into one of three
 * bands, each band has its own subject and durable consumer, and the pulling side (orchestrator
 * for kernel jobs, worker for remote tasks) asks the bands highest first.
 *
 * | priority | band     |
 * | -------- | -------- |
 * | > 0      | `high`   |
 * | 0, unset | `normal` |
 * | < 0      | `low`    |
 *
 * Within a band delivery is FIFO (stream order), whatever the exact numbers. The normal band keeps
 * the subjects and consumers that existed before bands, so unprioritised traffic is unchanged.
 *
 * Starvation guard ({@link BandPicker}): once `starvationLimit` deliveries in a row came from bands
 * above a band, that band is asked first on the next pick; if it has work it is served once.
 * Under a steady high band, normal and low work still get at least one delivery in
 * `starvationLimit + 1` per puller.
 */

import { ValidationError } from "./errors.js";
import { INT4_MAX, INT4_MIN } from "./storable.js";

/** A priority band, highest first in {@link PRIORITY_BANDS}. */
export type PriorityBand = "high" | "normal" | "low";

/** Every band in drain order (highest first). */
export const PRIORITY_BANDS: readonly PriorityBand[] = ["high", "normal", "low"];

/** Default of the starvation guard: higher-band deliveries in a row before a lower band is asked first. */
export const DEFAULT_STARVATION_LIMIT = 10;

/** The band of a numeric priority (unset = 0 = normal). */
export function priorityBand(priority: number | undefined): PriorityBand {
  if (priority === undefined || priority === 0 || Number.isNaN(priority)) return "normal";
  return priority > 0 ? "high" : "low";
}

/**
 * `priority` (unset = 0) if it is what every boundary takes: an integer a Postgres `integer`
 * column holds (int4), as `runs.create` and `TaskMessage` bound it. A remote task stores it, so
 * a task published again (re-dispatch, reissue) lands in the band it was first published in.
 * @throws ValidationError naming `priority`.
 */
export function checkedPriority(priority: number | undefined, what: string): number {
  if (priority === undefined) return 0;
  if (!Number.isInteger(priority) || priority < INT4_MIN || priority > INT4_MAX)
    throw new ValidationError(what, [{ path: "priority", message: `must be an integer from ${INT4_MIN} to ${INT4_MAX}, got ${priority}` }]);
  return priority;
}

/**
 * Order in which one puller asks the bands, with the starvation guard. Not shared between
 * pullers: each orchestrator or worker keeps its own, so the guard holds per puller.
 */
export class BandPicker {
  /** Deliveries from higher bands since the band was last served or found empty. */
  private readonly passedOver = new Map<PriorityBand, number>(PRIORITY_BANDS.map((b) => [b, 0]));

  /** @param starvationLimit higher-band deliveries in a row before a lower band is asked first (>= 1). */
  constructor(readonly starvationLimit = DEFAULT_STARVATION_LIMIT) {
    if (!Number.isInteger(starvationLimit) || starvationLimit < 1) throw new RangeError("starvationLimit must be an integer >= 1");
  }

  /** Bands to ask this time, in order: a starved band (lowest first) before the normal highest-first order. */
  order(): PriorityBand[] {
    const starved = [...PRIORITY_BANDS].reverse().filter((b) => this.passedOver.get(b)! >= this.starvationLimit);
    return [...starved, ...PRIORITY_BANDS.filter((b) => !starved.includes(b))];
  }

  /** A delivery came from `band`: it is no longer starved, every lower band was passed over once more. */
  served(band: PriorityBand): void {
    this.passedOver.set(band, 0);
    for (const b of PRIORITY_BANDS.slice(PRIORITY_BANDS.indexOf(band) + 1)) this.passedOver.set(b, this.passedOver.get(b)! + 1);
  }

  /** `band` had nothing ready: nothing of it is waiting, so it is not starved. */
  empty(band: PriorityBand): void {
    this.passedOver.set(band, 0);
  }
}

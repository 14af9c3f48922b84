import type { Clock } from "../ports/clock.js";

/** Default start of a FakeClock: a fixed instant so test output is reproducible. */
export const FAKE_CLOCK_START = new Date("2026-01-01T00:00:00.000Z");

/**
 * A Clock that only moves when told to. `now()` returns a fresh Date each call, so callers
 * that mutate it cannot move the clock.
 */
export class FakeClock implements Clock {
  private ms: number;

  constructor(start: Date | number = FAKE_CLOCK_START) {
    this.ms = typeof start === "number" ? start : start.getTime();
  }

  now(): Date {
    return new Date(this.ms);
  }

  /** Moves time forward by `ms` (negative values are refused: time never runs backwards here). */
  advance(ms: number): Date {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`FakeClock.advance: ms must be a finite number >= 0, got ${ms}`);
    this.ms += ms;
    return this.now();
  }

  /** Jumps to `date` (backwards too, to test clock skew). */
  set(date: Date | number): void {
    this.ms = typeof date === "number" ? date : date.getTime();
  }
}

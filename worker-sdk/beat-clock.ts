/**
 * One timer for every lease a worker process holds at a given heartbeat interval, instead of one
 * `setInterval` per lease. Each tick calls every registered beater in one synchronous loop, so
 * the `+WPI`s of a tick leave in one socket write (nats.js flushes once per microtask checkpoint)
 * and the lease refreshes due in a tick can share one request. With a timer per lease, 10,000
 * leases meant 2,000 timer callbacks and socket writes a second at the default interval.
 *
 * A tick comes every `intervalMs / TICKS_PER_INTERVAL`; a beater decides per tick whether its
 * beat is due, so its beats stay `intervalMs` apart, give or take half a tick.
 */

/** Ticks per interval: the finer, the closer a beat keeps to its interval, and the more (cheap) checks. */
export const TICKS_PER_INTERVAL = 4;

/** Called on every tick with Date.now(); must not throw (its errors are its own to log). */
export type Beater = (now: number) => void;

class BeatClock {
  private readonly beaters = new Set<Beater>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly tickMs: number,
    private readonly onEmpty: () => void,
  ) {}

  add(b: Beater): () => void {
    this.beaters.add(b);
    this.timer ??= setInterval(() => this.tick(), this.tickMs);
    return () => {
      this.beaters.delete(b);
      if (this.beaters.size > 0 || !this.timer) return;
      clearInterval(this.timer);
      this.timer = null;
      this.onEmpty();
    };
  }

  private tick(): void {
    const now = Date.now();
    for (const b of this.beaters) b(now);
  }
}

const clocks = new Map<number, BeatClock>();

/**
 * Registers `beater` on the process's clock for `intervalMs` (created on first use, stopped when
 * its last beater leaves); returns the function that unregisters it.
 */
export function onBeatTick(intervalMs: number, beater: Beater): () => void {
  let clock = clocks.get(intervalMs);
  if (!clock) {
    clock = new BeatClock(Math.max(1, Math.floor(intervalMs / TICKS_PER_INTERVAL)), () => clocks.delete(intervalMs));
    clocks.set(intervalMs, clock);
  }
  return clock.add(beater);
}

/** Half a tick of the clock for `intervalMs`: how far a beat may come before its interval is up. */
export const beatSlackMs = (intervalMs: number): number => Math.floor(intervalMs / TICKS_PER_INTERVAL / 2);

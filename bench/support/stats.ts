/** Small helpers shared by the benches: concurrency lanes, bounded countdowns, percentiles, formatting. */
import { loadavg } from "node:os";

/** Runs `fn(i)` for i in [0, n) on `width` concurrent lanes. */
export async function lanes(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < n; i = next++) await fn(i);
    }),
  );
}

/** Nearest-rank percentile of an ascending array. */
export function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(xs: readonly number[]): number {
  return pct(
    [...xs].sort((a, b) => a - b),
    50,
  );
}

/** Resolves when `n` ticks were counted, or rejects after `ms` (a bench must not hang). */
export function countdown(n: number, ms: number, what: string): { tick(): void; done: Promise<void> } {
  let left = n;
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  const timer = setTimeout(() => reject(new Error(`${what}: ${left} of ${n} missing after ${ms} ms`)), ms);
  if (n <= 0) {
    clearTimeout(timer);
    resolve();
  }
  return {
    tick() {
      if (--left === 0) {
        clearTimeout(timer);
        resolve();
      }
    },
    done,
  };
}

/** A promise with its resolve, bounded by `ms`. */
export function signal(ms: number, what: string): { promise: Promise<void>; fire(): void } {
  const c = countdown(1, ms, what);
  return { promise: c.done, fire: c.tick };
}

/** "load 1.23 0.98 0.50": printed with every bench so a noisy machine shows in the numbers. */
export function load(): string {
  return `loadavg ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`;
}

/** 1234.5 → "1,235". */
export function int(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "-";
}

/** A payload whose JSON is about `bytes` long (the peers bench uses ~200). */
export function payload(i: number, bytes = 200): { i: number; pad: string } {
  const base = JSON.stringify({ i, pad: "" }).length;
  return { i, pad: "x".repeat(Math.max(0, bytes - base)) };
}

/**
 * Framework-neutral conformance cases: plain async functions that throw (node:assert) on a
 * violation. Any runner can execute them, e.g. with uvu:
 * `for (const c of persistenceConformance(factory)) test(c.name, c.run);`
 */
export interface ConformanceCase {
  name: string;
  run: () => Promise<void>;
}

/** What an adapter factory hands a case: the adapter plus how to dispose of it. */
export interface Disposable {
  cleanup(): Promise<void>;
}

/**
 * Builds cases that each get a fresh adapter from `factory` and always clean it up, so one
 * failing case never leaks state into the next.
 */
export function defineCases<A extends Disposable>(
  prefix: string,
  factory: () => Promise<A>,
  bodies: Record<string, (adapter: A) => Promise<void>>,
): ConformanceCase[] {
  return Object.entries(bodies).map(([name, body]) => ({
    name: `${prefix}: ${name}`,
    run: async () => {
      const adapter = await factory();
      try {
        await body(adapter);
      } finally {
        await adapter.cleanup();
      }
    },
  }));
}

/**
 * Polls `probe` until it returns a value other than null/undefined/false, or fails after
 * `timeoutMs` naming `what`. Polls every `intervalMs`: a bounded wait on a condition, never a
 * fixed sleep standing in for one.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() >= deadline) throw new Error(`conformance: timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A fixed base instant with millisecond precision (every store keeps at least that). */
export const T0 = new Date("2026-03-01T10:00:00.000Z");
/** `T0 + ms`. */
export const at = (ms: number): Date => new Date(T0.getTime() + ms);

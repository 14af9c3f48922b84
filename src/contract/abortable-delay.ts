/**
 * Waits `ms`, or less if `signal` aborts first; always resolves (never rejects), so a stoppable
 * loop's backoff can be cut short by stop() without an AbortError to filter out.
 */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

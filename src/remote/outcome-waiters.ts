/**
 * In-process wake-ups for tasks reaching a terminal outcome. Only an accelerator: another
 * orchestrator may record the outcome, so waiters always re-read the store and are bounded.
 */
export type WakeReason = "notified" | "timeout" | "aborted";

/** The run and stage a task belongs to, told to outcome listeners so they can wake the stage. */
export interface OutcomeRef {
  workflowRunId: string;
  stageId: string;
}

/** Told about every terminal outcome recorded by this process (with its stage when known). */
export type OutcomeListener = (taskId: string, ref?: OutcomeRef) => void;

export class OutcomeWaiters {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly listeners = new Set<OutcomeListener>();

  /** Wakes everyone waiting on `taskId` and tells outcome listeners. */
  notify(taskId: string, ref?: OutcomeRef): void {
    const set = this.waiters.get(taskId);
    if (set) {
      this.waiters.delete(taskId);
      for (const wake of set) wake();
    }
    for (const l of this.listeners) l(taskId, ref);
  }

  /** Subscribes to every terminal outcome seen by this process; returns the unsubscribe. */
  onOutcome(listener: OutcomeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Registers before the caller re-reads the store (so no notify is missed); `done` resolves when `taskId` is notified, on `cancel()` or after `timeoutMs`; resolves "aborted" when `signal` aborts (never rejects).
   * The timer is a bound on the wait, not a synchronisation sleep.
   */
  wait(taskId: string, timeoutMs: number, signal?: AbortSignal): { done: Promise<WakeReason>; cancel(): void } {
    let cancel = () => {};
    const done = new Promise<WakeReason>((resolve) => {
      if (signal?.aborted) return resolve("aborted");
      let set = this.waiters.get(taskId);
      if (!set) this.waiters.set(taskId, (set = new Set()));
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const s = this.waiters.get(taskId);
        s?.delete(wake);
        if (s && s.size === 0) this.waiters.delete(taskId);
      };
      const finish = (why: WakeReason) => {
        cleanup();
        resolve(why);
      };
      const wake = () => finish("notified");
      const onAbort = () => finish("aborted");
      const timer = setTimeout(() => finish("timeout"), Math.max(0, timeoutMs));
      set.add(wake);
      signal?.addEventListener("abort", onAbort, { once: true });
      cancel = wake;
    });
    return { done, cancel };
  }
}

/** The signal's reason as an Error (AbortSignal reasons may be anything). */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error(r === undefined ? "aborted" : String(r));
}

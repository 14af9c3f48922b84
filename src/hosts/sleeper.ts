/**
 * Interruptible waits for host loops: `sleep` resolves after `ms` or as soon as `wake()` is
 * called, and never leaves a timer behind. `wake()` also cancels a sleep that starts later with
 * an older generation, so a wake-up that races a loop just before it sleeps is not lost.
 */
export class Sleeper {
  private readonly pending = new Set<() => void>();
  private gen = 0;

  /** Current generation; pass it to `sleep` to skip sleeping if a wake happened since. */
  get generation(): number {
    return this.gen;
  }

  sleep(ms: number, sinceGeneration?: number): Promise<void> {
    if (ms <= 0 || (sinceGeneration !== undefined && sinceGeneration !== this.gen)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.pending.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.pending.add(done);
    });
  }

  /** Ends every current sleep now. */
  wake(): void {
    this.gen++;
    for (const done of [...this.pending]) done();
  }
}

/** Resolves true when `p` settles within `ms`, false otherwise; clears its timer either way. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

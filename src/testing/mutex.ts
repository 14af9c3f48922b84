/**
 * A FIFO async mutex. In-memory adapters serialise every operation through one, so concurrent
 * callers observe the same all-or-nothing behaviour a database transaction gives them.
 */
export class AsyncMutex {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `fn` once every earlier holder has released; releases even when `fn` throws. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

import type postgres from "postgres";
import type { Logger } from "../../src/ports/logger.js";

const LISTEN_CAP_MS = 1_000;
const POLL_CAP_MS = 100;
/** While LISTEN is known to be re-connecting, notifications are lost: poll at least this often. */
const RECONNECT_CAP_MS = 250;

/**
 * Where waiting dequeues sleep: woken by NOTIFY on the transport's channel, never longer than
 * a cap (a notification lost across a reconnect costs at most that). LISTEN starts lazily in the
 * background; until it is confirmed, or if it fails (logged once), waits use the polling cap.
 */
export class JobWaiters {
  private listenState: "idle" | "starting" | "on" | "reconnecting" | "failed" = "idle";
  private unlisten: (() => Promise<void>) | null = null;
  private readonly wakers = new Set<() => void>();
  /** Bumped by every notification, so a wait that started after one was missed returns at once. */
  private notified = 0;
  private closed = false;

  constructor(
    private readonly sql: postgres.Sql,
    private readonly channel: string,
    private readonly pollIntervalMs: number | undefined,
    private readonly logger: Logger,
  ) {}

  /** The notification counter; pass it to `wait` to not sleep through one that came since. */
  epoch(): number {
    return this.notified;
  }

  /** Resolves on a notification after `since`, on close, or after min(ms, cap). */
  wait(ms: number, since: number): Promise<void> {
    if (this.closed || this.notified !== since || ms <= 0) return Promise.resolve();
    this.startListening();
    const cap =
      this.listenState === "on"
        ? (this.pollIntervalMs ?? LISTEN_CAP_MS)
        : this.listenState === "reconnecting"
          ? Math.min(this.pollIntervalMs ?? POLL_CAP_MS, RECONNECT_CAP_MS)
          : (this.pollIntervalMs ?? POLL_CAP_MS);
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, Math.ceil(Math.min(ms, cap))));
      this.wakers.add(done);
    });
  }

  /**
   * A query failed with a connection error: the LISTEN connection may be gone too, and a NOTIFY
   * sent before postgres.js re-listens is lost. Poll until the listen is confirmed again.
   */
  connectionLost(): void {
    if (this.listenState === "on") this.listenState = "reconnecting";
  }

  /** Wakes every waiter and stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake();
    const unlisten = this.unlisten;
    this.unlisten = null;
    if (unlisten) {
      try {
        await unlisten();
      } catch (err) {
        // The connection may already be gone (client ended first); nothing is left to release.
        this.logger.warn({ err: String(err), channel: this.channel }, "postgres job transport: UNLISTEN failed");
      }
    }
  }

  private startListening(): void {
    if (this.listenState !== "idle") return;
    this.listenState = "starting";
    this.sql
      .listen(
        this.channel,
        () => {
          this.notified++;
          this.wake();
        },
        () => {
          // (Re)listening: anything sent while it was down is missed, so every waiter re-checks.
          if (this.listenState === "reconnecting") this.listenState = "on";
          this.notified++;
          this.wake();
        },
      )
      .then(
        (meta) => {
          this.unlisten = meta.unlisten;
          this.listenState = "on";
          // Closed while LISTEN was starting: release it now.
          if (this.closed) void this.close();
        },
        (err: unknown) => {
          this.listenState = "failed";
          this.logger.warn(
            { err: String(err), channel: this.channel, pollMs: this.pollIntervalMs ?? POLL_CAP_MS },
            "postgres job transport: LISTEN failed; waiting dequeues poll instead",
          );
        },
      );
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }
}

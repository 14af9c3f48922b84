/**
 * The worker's ear for cancel notices: a core NATS subscription to its queue's
 * `<p>.cancel.<queue>` (the WORKERS account imports it as a stream, each credential may subscribe
 * to its own queue's subject only). A notice naming a task this worker holds marks it cancelled
 * and tells whoever watches it, so the running body aborts at once instead of at the next broker
 * heartbeat (whose reply's `cancelled` stays the fallback when a notice is lost).
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { CancelNotice } from "../src/contract/tasks.js";
import type { WorkerLogger } from "./logger.js";

export class CancelNotices {
  private readonly cancelled = new Set<string>();
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly sub: Subscription;

  /** `holds(taskId)`: whether this worker holds a delivery of the task (notices of others are ignored). */
  constructor(
    nc: NatsConnection,
    private readonly subject: string,
    private readonly holds: (taskId: string) => boolean,
    private readonly logger: WorkerLogger,
  ) {
    this.sub = nc.subscribe(subject, {
      callback: (err, m) => {
        if (err) {
          // E.g. a credential issued before cancel notices existed: broker heartbeat replies still carry `cancelled`.
          logger.warn({ subject, err: String(err) }, "cancel notices unavailable; cancels arrive with broker heartbeats");
          return;
        }
        this.onNotice(m.data);
      },
    });
  }

  private onNotice(data: Uint8Array): void {
    let notice: CancelNotice;
    try {
      const r = CancelNotice.safeParse(JSON.parse(new TextDecoder().decode(data)));
      if (!r.success) throw new Error(r.error.message);
      notice = r.data;
    } catch (err) {
      this.logger.warn({ subject: this.subject, err: String(err) }, "unreadable cancel notice ignored");
      return;
    }
    for (const taskId of notice.taskIds) {
      if (!this.holds(taskId)) continue;
      this.cancelled.add(taskId);
      const fns = this.watchers.get(taskId);
      this.watchers.delete(taskId);
      for (const fn of fns ?? []) fn();
    }
  }

  /** Whether a notice named `taskId` while this worker held it. */
  has(taskId: string): boolean {
    return this.cancelled.has(taskId);
  }

  /** Calls `onCancel` once when `taskId` is cancelled (at once if it already was); returns the unsubscribe. */
  watch(taskId: string, onCancel: () => void): () => void {
    if (this.cancelled.has(taskId)) {
      onCancel();
      return () => {};
    }
    const set = this.watchers.get(taskId) ?? new Set<() => void>();
    set.add(onCancel);
    this.watchers.set(taskId, set);
    return () => {
      set.delete(onCancel);
      if (set.size === 0 && this.watchers.get(taskId) === set) this.watchers.delete(taskId);
    };
  }

  /** Drops what is known about `taskId` (no longer held). */
  forget(taskId: string): void {
    this.cancelled.delete(taskId);
    this.watchers.delete(taskId);
  }

  close(): void {
    this.sub.unsubscribe();
    this.cancelled.clear();
    this.watchers.clear();
  }
}

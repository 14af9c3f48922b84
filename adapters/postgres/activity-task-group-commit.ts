/**
 * Group commit for the activity task store's single-row writes (task insert, start, heartbeat,
 * report). Each write is one guarded statement; with `synchronous_commit` on, each autocommit
 * waits for its own WAL flush, so a queue of remote activities costs one disk flush per write.
 * Writes that arrive while `maxInFlight` groups are committing wait and then go together, in
 * one transaction: one flush for all. An idle store sends each write at once, alone.
 *
 * A write's promise resolves only after its group committed (an outcome is durable before the
 * report is acked). If a group fails (one statement's error, a deadlock, a lost connection), it
 * rolled back as a whole and every write in it runs again on its own, so each gets exactly its
 * own result or error. Statements of a group run in task-id order, so two groups always lock
 * shared rows in the same order.
 */
import type postgres from "postgres";
import { assertConnectionAlive, isConnectionError, safeBegin } from "./safe-begin.js";

type Db = postgres.Sql | postgres.TransactionSql;
/** One guarded statement, run on the client or on a group's transaction. */
export type GroupedWrite<T> = (db: Db) => Promise<T>;

interface Pending {
  key: string;
  write: GroupedWrite<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** Batches single-row writes into shared transactions; see the file comment. */
export class GroupCommit {
  private queue: Pending[] = [];
  private inFlight = 0;

  constructor(
    private readonly sql: postgres.Sql,
    private readonly maxInFlight = 4,
    private readonly maxGroup = 128,
  ) {}

  /** Runs `write` (a statement about task `key`) and resolves once it is committed. */
  run<T>(key: string, write: GroupedWrite<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ key, write, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const group = this.queue.splice(0, this.maxGroup);
      this.inFlight++;
      void this.commit(group).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async commit(group: Pending[]): Promise<void> {
    if (group.length === 1) return this.alone(group[0]!);
    group.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    let results: unknown[];
    try {
      results = await safeBegin(this.sql, async (tx, state) => {
        assertConnectionAlive(state);
        // Sent together on the transaction's connection (pipelined), executed in this order.
        return Promise.all(
          group.map((p) =>
            p.write(tx).catch((err: unknown) => {
              if (isConnectionError(err)) state.lost = true;
              throw err;
            }),
          ),
        );
      });
    } catch {
      // Rolled back as a whole: each write again on its own, to get its own result or error.
      await Promise.all(group.map((p) => this.alone(p)));
      return;
    }
    group.forEach((p, i) => p.resolve(results[i]));
  }

  private async alone(p: Pending): Promise<void> {
    try {
      p.resolve(await p.write(this.sql));
    } catch (err) {
      p.reject(err);
    }
  }
}

/**
 * Admission control per postgres.js client, the guard against postgres.js 3.4.9 running a
 * transaction on a connection it did not reserve.
 *
 * When every connection is busy, postgres.js pipelines a new query onto a busy connection. If
 * that query is a transaction's BEGIN and it is the one that fills the connection's pipeline
 * (`max_pipeline`, 100 by default) or meets socket back-pressure, `sql.begin` skips reserving
 * the connection: BEGIN runs on the server, the driver rejects with UNSAFE_TRANSACTION, and the
 * connection goes on serving other callers' statements inside that open transaction
 * (porsager/postgres#1189, #823; unfixed in 3.4.9). ~1,000 concurrent `run.create` on a
 * 10-connection pool reached exactly that.
 *
 * So jetflow never lets more operations than the pool has connections be in flight at once on a
 * client: each transaction, and each statement outside one, holds a permit while it runs. A
 * BEGIN then always finds an idle connection and is never pipelined; what postgres.js would have
 * queued on its sockets waits here instead.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type postgres from "postgres";

/** A counting semaphore, first come first served. */
export class AdmissionGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly capacity: number) {}

  /** Runs `fn` once a permit is free, holding it until `fn` settles. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.capacity) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      // Hand the permit straight to the next waiter (active stays the same), else give it back.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  /** Operations waiting for a permit (tests, diagnostics). */
  get queued(): number {
    return this.waiting.length;
  }
}

const gates = new WeakMap<postgres.Sql, AdmissionGate>();
/** The client whose transaction the current async call chain runs inside. */
const insideTx = new AsyncLocalStorage<postgres.Sql>();

/** The gate shared by every jetflow adapter on `sql`: one permit per pooled connection. */
export function admissionGate(sql: postgres.Sql): AdmissionGate {
  let gate = gates.get(sql);
  if (!gate) {
    const max = Number((sql.options as { max?: unknown } | undefined)?.max);
    gate = new AdmissionGate(Number.isInteger(max) && max > 0 ? max : 10);
    gates.set(sql, gate);
  }
  return gate;
}

/**
 * Runs `fn` holding a permit of `sql`'s gate. Inside a transaction on the same client no permit
 * is taken: the transaction holds one, and waiting for a second could deadlock once every permit
 * is held by a transaction doing the same.
 */
export function admitted<T>(sql: postgres.Sql, fn: () => Promise<T>): Promise<T> {
  if (insideTx.getStore() === sql) return fn();
  return admissionGate(sql).run(fn);
}

/** Runs a transaction's body marked as inside a transaction of `sql` (see `admitted`). */
export function asTransactionOf<T>(sql: postgres.Sql, fn: () => Promise<T>): Promise<T> {
  return insideTx.run(sql, fn);
}

/**
 * `sql.begin` without postgres.js 3.4.9's process-killing write to a dead socket.
 *
 * When a transaction's connection dies (pg_terminate_backend, server restart, network reset),
 * postgres.js rejects the in-flight query; our callback then rejects, and `begin`'s scope sends
 * `rollback` on that same connection. Its socket is already null, so the deferred write throws
 * `TypeError: Cannot read properties of null (reading 'write')` from a setImmediate — an
 * uncaught exception that ends the process (porsager/postgres#1154, #1208; unfixed in 3.4.9).
 *
 * `begin` itself already rejects when the connection closes (it races the scope against the
 * connection's close). So when the callback fails because the connection was lost, we wait
 * (bounded) for that rejection; once it came, the callback never settles, and the scope never
 * writes to the dead socket. If the connection turns out to be alive, the error is rethrown and
 * postgres.js rolls back as usual.
 */
import type postgres from "postgres";
import { admitted, asTransactionOf } from "./admission.js";

/** How long a callback that saw a connection error waits for `begin` to report the close. */
const CLOSE_GRACE_MS = 3_000;

const CONNECTION_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNRESET",
  "EPIPE",
  "ECONNREFUSED",
  "ETIMEDOUT",
  // admin_shutdown, crash_shutdown, cannot_connect_now: the server is closing the session.
  "57P01",
  "57P02",
  "57P03",
]);

/** True for errors meaning the connection is gone or about to be (not a statement error). */
export function isConnectionError(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && CONNECTION_CODES.has(code)) return true;
  }
  return false;
}

/** What a transaction's callback must know about its connection. */
export interface TxConnectionState {
  /** Set by the caller when a query of this transaction failed with a connection error. */
  lost: boolean;
  /** Set here when `begin` rejected because the connection closed. */
  closed: boolean;
}

/** The transaction's connection is gone; nothing more may be sent on it. */
export class TransactionConnectionLostError extends Error {
  readonly code = "CONNECTION_CLOSED";
  constructor() {
    super("the transaction's database connection was lost; the transaction was rolled back by the server");
    this.name = "TransactionConnectionLostError";
  }
}

/**
 * Throws TransactionConnectionLostError when the transaction's connection is known to be dead.
 * Call it before every query of the transaction: sending a query on a closed transaction
 * connection crashes the process just like the rollback does.
 */
export function assertConnectionAlive(state: TxConnectionState): void {
  if (state.lost || state.closed) throw new TransactionConnectionLostError();
}

/**
 * Runs `fn` in `sql.begin`. The state passed to `fn` tells whether the connection is known to be
 * lost; `fn` must check it (assertConnectionAlive) before each query and set `lost` when a query
 * fails with a connection error (the callback may wrap that error before it gets here).
 */
export function safeBegin<T>(sql: postgres.Sql, fn: (tx: postgres.TransactionSql, state: TxConnectionState) => Promise<T>): Promise<T> {
  // A permit first: the BEGIN must find an idle connection (see admission.ts).
  return admitted(sql, () => begin(sql, fn));
}

async function begin<T>(sql: postgres.Sql, fn: (tx: postgres.TransactionSql, state: TxConnectionState) => Promise<T>): Promise<T> {
  const state: TxConnectionState = { lost: false, closed: false };
  let beginSettled = false;
  let markSettled!: () => void;
  const settled = new Promise<void>((resolve) => (markSettled = resolve));
  // Once begin settled early (only the connection's close does that), the scope must never get
  // control back: on success it would send `commit`, on failure `rollback`, to the dead socket.
  const never = () => new Promise<never>(() => {});
  const run = sql.begin(async (tx) => {
    let result: T;
    try {
      result = await asTransactionOf(sql, () => fn(tx, state));
    } catch (err) {
      if (!beginSettled && (state.lost || isConnectionError(err))) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([settled, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)))]);
        clearTimeout(timer);
      }
      if (beginSettled) return await never();
      throw err;
    }
    if (beginSettled) return await never();
    return result;
  });
  try {
    return (await run) as T;
  } catch (err) {
    // Runs in the microtasks of the close itself, before any later query of the callback.
    if (isConnectionError(err)) state.closed = true;
    throw err;
  } finally {
    beginSettled = true;
    markSettled();
  }
}

/**
 * One presigned HTTP transfer with bounded retries, shared by streaming uploads (one call per
 * part) and downloads. Only failures another try can fix are retried: network errors, 408, 429
 * and 5xx. A 4xx is final (a size or signature the store refuses stays refused).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { ArtifactPartFailedError } from "./errors.js";

/** Tries per part (or download) before the transfer fails. */
export const TRANSFER_ATTEMPTS = 3;
/** First pause between tries; doubled each time. */
export const TRANSFER_BACKOFF_MS = 250;

/** What one try sends: a fresh body each time, since a stream cannot be re-read. */
export interface TransferRequest {
  url: string;
  method: "PUT" | "GET";
  headers: Record<string, string>;
  body?: () => Uint8Array | ReadableStream<Uint8Array>;
}

export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Sends `req` until it answers with `ok(res)` (default: 2xx), at most `attempts` times. Between
 * tries `beforeRetry` may throw to stop (e.g. the source file changed). Resolves with the
 * response, body unread. An abort of `signal` ends it at once with the signal's reason.
 * @throws ArtifactPartFailedError once the tries are used up or the store answered a final 4xx.
 */
export async function sendWithRetry(
  what: { artifact: string; partNumber: number },
  req: TransferRequest,
  signal: AbortSignal,
  opts: { attempts?: number; backoffMs?: number; beforeRetry?: () => Promise<void>; ok?: (res: Response) => boolean } = {},
): Promise<Response> {
  const attempts = opts.attempts ?? TRANSFER_ATTEMPTS;
  const ok = opts.ok ?? ((r: Response) => r.ok);
  let last = "";
  let lastStatus: number | undefined;
  for (let i = 1; i <= attempts; i++) {
    if (i > 1) {
      await sleep((opts.backoffMs ?? TRANSFER_BACKOFF_MS) * 2 ** (i - 2), undefined, { signal });
      await opts.beforeRetry?.();
    }
    signal.throwIfAborted();
    let res: Response;
    try {
      res = await fetch(req.url, {
        method: req.method,
        headers: req.headers,
        signal,
        ...(req.body ? { body: req.body(), duplex: "half" } : {}),
      } as RequestInit);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const cause = (err as { cause?: unknown }).cause;
      last = `${String(err)}${cause ? ` (${String(cause)})` : ""}`;
      lastStatus = undefined;
      continue;
    }
    if (ok(res)) return res;
    lastStatus = res.status;
    last = await bodySnippet(res);
    if (!retryableStatus(res.status)) throw new ArtifactPartFailedError(what.artifact, what.partNumber, i, res.status, last);
  }
  throw new ArtifactPartFailedError(what.artifact, what.partNumber, attempts, lastStatus, last);
}

/** The start of an error response's body, for the message (S3 explains refusals in XML). */
export async function bodySnippet(res: Response): Promise<string> {
  try {
    return (await res.text()).slice(0, 200);
  } catch (err) {
    return `(body unreadable: ${String(err)})`;
  }
}

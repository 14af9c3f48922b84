/**
 * One presigned HTTP transfer with bounded retries, shared by streaming uploads (one call per
 * part) and downloads. Only failures another try can fix are retried: network errors, 408, 429
 * and 5xx. A 4xx is final (a size or signature the store refuses stays refused).
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { ArtifactPartFailedError } from "./errors.js";

/** Tries per part (or download) before the transfer fails. */
export const TRANSFER_ATTEMPTS = 3;
/** First pause between tries; doubled each time. */
export const TRANSFER_BACKOFF_MS = 250;

/** Statuses another try may fix. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** What one upload try answered (its small body read whole, for an error message). */
export interface PutAnswer {
  status: number;
  ok: boolean;
  etag: string | null;
  text: string;
}

/**
 * One PUT of exactly `size` bytes over node:http(s), body piped with backpressure. Not fetch:
 * Node 20's fetch reads a streamed request body as fast as it can, whatever the socket takes,
 * and so held a 320 MiB file in memory in integration/remote/big-artifacts.
 */
export function httpPut(
  url: string,
  headers: Record<string, string>,
  size: number,
  body: () => Uint8Array | Readable,
  signal: AbortSignal,
): Promise<PutAnswer> {
  const u = new URL(url);
  const request = u.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<PutAnswer>((resolve, reject) => {
    const req = request(u, { method: "PUT", headers: { ...headers, "content-length": String(size) }, signal }, (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on("data", (c: Buffer) => {
        // Only the start of an answer is kept: it is an ETag header and maybe an XML error.
        if (kept < 4096) chunks.push(c);
        kept += c.byteLength;
      });
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        const etag = res.headers.etag;
        resolve({
          status,
          ok: status >= 200 && status < 300,
          etag: typeof etag === "string" ? etag : null,
          text: Buffer.concat(chunks).toString("utf8"),
        });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    const b = body();
    if (b instanceof Uint8Array) req.end(b);
    else pipeline(b, req).catch(reject);
  });
}

/** What one try of a transfer answered: enough to decide whether to try again. */
interface Answer {
  status: number;
  ok: boolean;
}

/**
 * Runs `once` until it answers `ok(answer)` (default: `answer.ok`), at most `attempts` times.
 * Between tries `beforeRetry` may throw to stop (e.g. the source file changed). An abort of
 * `signal` ends it at once with the signal's reason.
 * @throws ArtifactPartFailedError once the tries are used up or the store answered a final 4xx.
 */
export async function sendWithRetry<A extends Answer>(
  what: { artifact: string; partNumber: number },
  once: () => Promise<A>,
  signal: AbortSignal,
  opts: {
    attempts?: number;
    backoffMs?: number;
    beforeRetry?: () => Promise<void>;
    ok?: (a: A) => boolean;
    detail: (a: A) => Promise<string>;
  },
): Promise<A> {
  const attempts = opts.attempts ?? TRANSFER_ATTEMPTS;
  const ok = opts.ok ?? ((a: A) => a.ok);
  let last = "";
  let lastStatus: number | undefined;
  for (let i = 1; i <= attempts; i++) {
    if (i > 1) {
      await sleep((opts.backoffMs ?? TRANSFER_BACKOFF_MS) * 2 ** (i - 2), undefined, { signal });
      await opts.beforeRetry?.();
    }
    signal.throwIfAborted();
    let a: A;
    try {
      a = await once();
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const cause = (err as { cause?: unknown }).cause;
      last = `${String(err)}${cause ? ` (${String(cause)})` : ""}`;
      lastStatus = undefined;
      continue;
    }
    if (ok(a)) return a;
    lastStatus = a.status;
    last = await opts.detail(a);
    if (!retryableStatus(a.status)) throw new ArtifactPartFailedError(what.artifact, what.partNumber, i, a.status, last);
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

/**
 * Streaming artifact downloads over a presigned GET: the body goes to disk (or to the caller) as
 * it arrives, never whole in memory. A download to a file that breaks off resumes with a ranged
 * GET from the bytes already written (bounded tries), and lands under its final name only complete.
 */
import { createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ArtifactSizeMismatchError, ArtifactTransferError } from "./errors.js";
import type { LeasedTask, WorkerTransport } from "./transport.js";
import { TRANSFER_ATTEMPTS, TRANSFER_BACKOFF_MS, bodySnippet, sendWithRetry } from "./artifact-transfer.js";
import { setTimeout as sleep } from "node:timers/promises";

export interface DownloadDeps {
  transport: WorkerTransport;
  lease: LeasedTask;
  signal: AbortSignal;
}

async function presignGet(d: DownloadDeps, nameOrKey: string): Promise<{ key: string; url: string; headers: Record<string, string> }> {
  const p = await d.transport.presign(d.lease, { op: "get", key: nameOrKey });
  if (!p.url) throw new ArtifactTransferError(`presign get for "${nameOrKey}" returned no URL`);
  return { key: p.key, url: p.url, headers: p.headers ?? {} };
}

// Downloads keep fetch: a response body is read only as fast as the consumer reads it.
const httpGet = (url: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> =>
  fetch(url, { method: "GET", headers, signal });

/** The artifact as a stream of its bytes, or null when it does not exist. */
export async function getStreamStreaming(d: DownloadDeps, nameOrKey: string): Promise<Readable | null> {
  const p = await presignGet(d, nameOrKey);
  const res = await sendWithRetry({ artifact: nameOrKey, partNumber: 1 }, () => httpGet(p.url, p.headers, d.signal), d.signal, {
    ok: (r) => r.ok || r.status === 404,
    detail: bodySnippet,
  });
  if (res.status === 404) {
    await res.arrayBuffer();
    return null;
  }
  if (!res.body) return Readable.from([]);
  return Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
}

/** Total size from a 200's Content-Length or a 206's Content-Range (`bytes a-b/total`). */
function totalOf(res: Response): number | undefined {
  const range = res.headers.get("content-range");
  const m = range ? /\/(\d+)\s*$/.exec(range) : null;
  if (m) return Number(m[1]);
  const len = res.headers.get("content-length");
  return res.status === 200 && len !== null ? Number(len) : undefined;
}

/**
 * Downloads the artifact to `path`. Resolves null when it does not exist (nothing is written).
 * @throws ArtifactSizeMismatchError when the body ends short of its announced size after the
 * retries; ArtifactPartFailedError when the store keeps failing.
 */
export async function getToFileStreaming(d: DownloadDeps, nameOrKey: string, path: string): Promise<{ key: string; size: number } | null> {
  const p = await presignGet(d, nameOrKey);
  // A temp name next to the target: same filesystem, so the final rename is atomic.
  const tmp = `${path}.jetflow-partial-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let written = 0;
  let total: number | undefined;
  let lastErr: unknown;
  try {
    for (let attempt = 1; attempt <= TRANSFER_ATTEMPTS; attempt++) {
      if (attempt > 1) {
        await sleep(TRANSFER_BACKOFF_MS * 2 ** (attempt - 2), undefined, { signal: d.signal });
        // Resume from what reached the disk, not what was received: a broken pipeline may drop buffered writes.
        written = (await stat(tmp).catch(() => null))?.size ?? 0;
        if (total !== undefined && written === total) break;
      }
      const headers = written > 0 ? { ...p.headers, range: `bytes=${written}-` } : p.headers;
      const res = await sendWithRetry({ artifact: nameOrKey, partNumber: 1 }, () => httpGet(p.url, headers, d.signal), d.signal, {
        ok: (r) => r.ok || r.status === 404,
        detail: bodySnippet,
      });
      if (res.status === 404) {
        await res.arrayBuffer();
        if (written === 0) return null;
        throw new ArtifactTransferError(`GET ${p.key}: the object disappeared mid-download`);
      }
      // A store that ignores Range answers 200 with the whole object: start over.
      if (res.status !== 206) written = 0;
      total ??= totalOf(res);
      try {
        const body = res.body ? Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>) : Readable.from([]);
        await pipeline(body, createWriteStream(tmp, { flags: written > 0 ? "r+" : "w", start: written }), { signal: d.signal });
      } catch (err) {
        if (d.signal.aborted) throw d.signal.reason;
        lastErr = err;
        continue;
      }
      written = (await stat(tmp)).size;
      if (total === undefined) {
        // Nothing announced a size: what arrived without error is the object.
        await rename(tmp, path);
        return { key: p.key, size: written };
      }
      if (written !== total) {
        lastErr = new ArtifactSizeMismatchError(nameOrKey, total, written, "but the download ended after");
        continue;
      }
      break;
    }
    if (total !== undefined && written === total) {
      await rename(tmp, path);
      return { key: p.key, size: written };
    }
    if (lastErr instanceof ArtifactSizeMismatchError) throw lastErr;
    throw new ArtifactTransferError(`GET ${p.key} failed after ${TRANSFER_ATTEMPTS} attempts: ${String(lastErr)}`);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

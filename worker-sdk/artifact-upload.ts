/**
 * Streaming artifact uploads over presigned URLs with memory bounded by the part size, whatever
 * the artifact's size. A file is sent part by part straight from disk (ranged reads, several parts
 * in flight, nothing buffered); a stream is cut into parts of which at most two are held at once
 * (one uploading while the next is read), so a failed part can be re-sent. Above one part the
 * upload is presigned multipart, and the orchestrator presigns every part, a page of URLs at a
 * time (./part-urls.ts): the worker never holds a storage credential.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { streamingPartSize } from "../src/contract/multipart-limits.js";
import { ArtifactPartFailedError, ArtifactSizeMismatchError, ArtifactTooLargeError, ArtifactTransferError } from "./errors.js";
import { PartUrls } from "./part-urls.js";
import type { LeasedTask, WorkerTransport } from "./transport.js";
import type { WorkerLogger } from "./logger.js";
import { httpPut, sendWithRetry } from "./artifact-transfer.js";

export interface UploadDeps {
  transport: WorkerTransport;
  lease: LeasedTask;
  /** Preferred part size; grown so that 10,000 parts cover the artifact. */
  partSize: number;
  /** File parts in flight at once (streams hold at most two). */
  partConcurrency: number;
  signal: AbortSignal;
  logger: WorkerLogger;
  /** Part URLs asked of the broker per request (it may cap them lower). */
  pageParts: number;
  /** Epoch ms, for the expiry of part URLs (a fake clock in tests). */
  now: () => number;
}

/** Where the bytes of part `[start, end)` come from; called again for a retry. */
interface PartSource {
  /** Prepares the body of one range; sequential sources must be asked in order. */
  body(start: number, end: number): Promise<() => Uint8Array | Readable>;
  /** Parts this source can have in flight. */
  concurrency: number;
  /** Throws when the source can no longer be trusted (e.g. the file changed). */
  check(): Promise<void>;
}

/** Uploads the file at `path` as artifact `name`, reading each part from disk as it is sent. */
export async function putFileStreaming(
  d: UploadDeps,
  name: string,
  path: string,
  contentType: string | undefined,
): Promise<{ key: string; size: number }> {
  const before = await stat(path);
  const size = before.size;
  const check = async () => {
    const now = await stat(path);
    if (now.size !== size) throw new ArtifactSizeMismatchError(name, size, now.size, "but the file changed while it uploaded and is now");
    if (now.mtimeMs !== before.mtimeMs)
      throw new ArtifactSizeMismatchError(name, size, now.size, "and the file was rewritten while it uploaded, size");
  };
  const source: PartSource = {
    concurrency: d.partConcurrency,
    check,
    async body(start, end) {
      return () => (end === start ? new Uint8Array(0) : createReadStream(path, { start, end: end - 1, highWaterMark: 256 * 1024 }));
    },
  };
  const out = await upload(d, name, size, contentType, source);
  await check();
  return out;
}

/** Uploads exactly `size` bytes of `stream` as artifact `name`. */
export async function putStreamStreaming(
  d: UploadDeps,
  name: string,
  stream: AsyncIterable<Uint8Array>,
  size: number,
  contentType: string | undefined,
): Promise<{ key: string; size: number }> {
  const reader = new ExactReader(name, stream, size);
  const source: PartSource = {
    concurrency: Math.min(2, d.partConcurrency),
    check: async () => {},
    async body(start, end) {
      const bytes = await reader.read(start, end);
      return () => bytes;
    },
  };
  try {
    return await upload(d, name, size, contentType, source, () => reader.expectEnd());
  } finally {
    await reader.close();
  }
}

/** Uploads `bytes` (held by the caller) as artifact `name`; multipart above one part, like a file. */
export async function putBytesStreaming(
  d: UploadDeps,
  name: string,
  bytes: Uint8Array,
  contentType: string | undefined,
): Promise<{ key: string; size: number }> {
  const source: PartSource = {
    concurrency: d.partConcurrency,
    check: async () => {},
    async body(start, end) {
      const part = bytes.subarray(start, end);
      return () => part;
    },
  };
  return upload(d, name, bytes.byteLength, contentType, source);
}

async function upload(
  d: UploadDeps,
  name: string,
  size: number,
  contentType: string | undefined,
  source: PartSource,
  beforeComplete: () => Promise<void> = async () => {},
): Promise<{ key: string; size: number }> {
  if (!Number.isSafeInteger(size) || size < 0) throw new ArtifactSizeMismatchError(name, 0, size, "got a declared size of");
  const limit = d.lease.task.maxUploadBytes;
  if (limit !== undefined && size > limit) throw new ArtifactTooLargeError(name, size, limit);
  const partSize = streamingPartSize(size, d.partSize);
  // Over 10,000 parts of 5 GiB (about 48.8 TiB): S3 cannot hold it at all.
  if (partSize === undefined) throw new ArtifactTooLargeError(name, size, 10_000 * 5 * 1024 ** 3);
  const typed = contentType ? { contentType } : {};
  if (size <= partSize) {
    const p = await d.transport.presign(d.lease, { op: "put", key: name, size, ...typed });
    if (!p.url) throw new ArtifactTransferError(`presign put for "${name}" returned no URL`);
    const body = await source.body(0, size);
    await beforeComplete();
    const url = p.url;
    await sendWithRetry({ artifact: name, partNumber: 1 }, () => httpPut(url, p.headers ?? {}, size, body, d.signal), d.signal, {
      beforeRetry: source.check,
      detail: async (a) => a.text.slice(0, 200),
    });
    return { key: p.key, size };
  }
  const m = await d.transport.presign(d.lease, { op: "multipart", key: name, size, partSize, partsCount: d.pageParts, ...typed });
  if (!m.uploadId || !m.parts || !m.partSize) throw new ArtifactTransferError(`presign multipart for "${name}" returned no upload`);
  const { uploadId } = m;
  const ps = m.partSize;
  const partCount = Math.ceil(size / ps);
  // A broker older than paging signs every part and sends no partCount.
  if ((m.partCount ?? m.parts.length) !== partCount) {
    throw new ArtifactTransferError(
      `presign multipart for "${name}" returned ${m.partCount ?? m.parts.length} parts for ${size} bytes in parts of ${ps}`,
    );
  }
  // Sent back with every later request of this upload: it proves the upload id is this attempt's.
  const ticket = m.uploadTicket ? { uploadTicket: m.uploadTicket, size, partSize: ps } : {};
  const urls = new PartUrls({
    partCount,
    pageSize: d.pageParts,
    now: d.now,
    fetchPage: async (from, count) => {
      if (!m.uploadTicket)
        throw new ArtifactTransferError(
          `presign multipart for "${name}": the broker sent no uploadTicket, so part ${from} cannot be re-signed`,
        );
      const page = await d.transport.presign(d.lease, { op: "parts", key: m.key, uploadId, partsFrom: from, partsCount: count, ...ticket });
      return { parts: page.parts ?? [], expiresAt: page.expiresAt };
    },
  });
  urls.seed({ parts: m.parts, expiresAt: m.expiresAt });
  const etags: { partNumber: number; etag: string }[] = [];
  // Parts are taken in order: a sequential source (a stream) is read front to back.
  let next = 1;
  // After one part fails for good, the others stop taking parts: the upload is aborted anyway.
  let failed = false;
  const sendPart = async (partNumber: number, start: number, end: number, body: () => Uint8Array | Readable, fresh: boolean) => {
    const part = await urls.take(partNumber, fresh);
    return sendWithRetry({ artifact: name, partNumber }, () => httpPut(part.url, {}, end - start, body, d.signal), d.signal, {
      beforeRetry: source.check,
      detail: async (a) => a.text.slice(0, 200),
    });
  };
  const worker = async () => {
    while (next <= partCount && !failed) {
      const partNumber = next++;
      const start = (partNumber - 1) * ps;
      const end = Math.min(start + ps, size);
      const body = await source.body(start, end);
      let answer;
      try {
        answer = await sendPart(partNumber, start, end, body, false);
      } catch (err) {
        // A URL that expired in flight (a clock off, a part queued long): re-sign that part and send it once more.
        if (!expiredSignature(err)) throw err;
        d.logger.warn({ key: m.key, partNumber }, "part URL expired; re-signing the part");
        answer = await sendPart(partNumber, start, end, body, true);
      }
      const etag = answer.etag;
      if (!etag)
        throw new ArtifactTransferError(`PUT part ${partNumber} of ${m.key} returned no ETag (expose it in the bucket's CORS rules)`);
      etags.push({ partNumber, etag });
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.min(source.concurrency, partCount) }, () =>
        worker().catch((err: unknown) => {
          failed = true;
          throw err;
        }),
      ),
    );
    await beforeComplete();
    etags.sort((a, b) => a.partNumber - b.partNumber);
    const done = await d.transport.presign(d.lease, { op: "complete", key: m.key, uploadId, parts: etags, ...ticket });
    return { key: m.key, size: done.size ?? size };
  } catch (err) {
    // Abort so the store keeps no orphaned parts; the original error is what the stage sees.
    await d.transport.presign(d.lease, { op: "abort", key: m.key, uploadId, ...ticket }).catch((abortErr: unknown) => {
      d.logger.warn({ key: m.key, uploadId, err: String(abortErr) }, "multipart abort failed");
    });
    throw err;
  }
}

/** The store's answer to a URL used after its expiry (S3 and s3rver: 403 AccessDenied "Request has expired"). */
function expiredSignature(err: unknown): boolean {
  return err instanceof ArtifactPartFailedError && err.status === 403 && /request has expired/i.test(err.message);
}

/**
 * Reads a byte stream in consecutive ranges of exact length, one range buffered at a time,
 * failing with ArtifactSizeMismatchError when the stream ends early or runs past `size`.
 */
class ExactReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private pending: Uint8Array | null = null;
  private offset = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly name: string,
    stream: AsyncIterable<Uint8Array>,
    private readonly size: number,
  ) {
    this.it = stream[Symbol.asyncIterator]();
  }

  /** Bytes `[start, end)`; calls are served in order, so concurrent callers get consecutive ranges. */
  read(start: number, end: number): Promise<Uint8Array> {
    const r = this.chain.then(() => this.fill(start, end));
    this.chain = r.catch(() => {});
    return r;
  }

  private async fill(start: number, end: number): Promise<Uint8Array> {
    if (start !== this.offset) throw new Error(`ExactReader: asked for ${start}, at ${this.offset}`);
    const out = new Uint8Array(end - start);
    let filled = 0;
    while (filled < out.byteLength) {
      const chunk = this.pending ?? (await this.nextChunk());
      if (!chunk) throw new ArtifactSizeMismatchError(this.name, this.size, start + filled, "but the stream ended after");
      const take = Math.min(chunk.byteLength, out.byteLength - filled);
      out.set(chunk.subarray(0, take), filled);
      filled += take;
      this.pending = take < chunk.byteLength ? chunk.subarray(take) : null;
    }
    this.offset = end;
    return out;
  }

  private async nextChunk(): Promise<Uint8Array | null> {
    for (;;) {
      const r = await this.it.next();
      if (r.done) return null;
      // Strings (a Readable in text mode) are not bytes of a declared size.
      if (!(r.value instanceof Uint8Array)) throw new ArtifactTransferError(`artifact "${this.name}": the stream yielded a non-byte chunk`);
      if (r.value.byteLength > 0) return r.value;
    }
  }

  /** Throws when the stream has bytes past the declared size. */
  async expectEnd(): Promise<void> {
    await this.chain;
    const extra = this.pending ?? (await this.nextChunk());
    if (extra) throw new ArtifactSizeMismatchError(this.name, this.size, this.size + extra.byteLength, "but the stream ran on to at least");
  }

  /** Releases the source (destroys a Node stream left half-read). */
  async close(): Promise<void> {
    await this.it.return?.();
  }
}

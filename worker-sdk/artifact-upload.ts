/**
 * Streaming artifact uploads over presigned URLs with memory bounded by the part size, whatever
 * the artifact's size. A file is sent part by part straight from disk (ranged reads, several parts
 * in flight, nothing buffered); a stream is cut into parts of which at most two are held at once
 * (one uploading while the next is read), so a failed part can be re-sent. Above one part the
 * upload is presigned multipart, and the orchestrator presigns every part: the worker never holds
 * a storage credential.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { streamingPartSize } from "../src/contract/multipart-limits.js";
import { ArtifactSizeMismatchError, ArtifactTooLargeError, ArtifactTransferError } from "./errors.js";
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
  const m = await d.transport.presign(d.lease, { op: "multipart", key: name, size, partSize, ...typed });
  if (!m.uploadId || !m.parts || !m.partSize) throw new ArtifactTransferError(`presign multipart for "${name}" returned no upload`);
  const { uploadId } = m;
  const ps = m.partSize;
  const parts = [...m.parts].sort((a, b) => a.partNumber - b.partNumber);
  if (parts.length !== Math.ceil(size / ps)) {
    throw new ArtifactTransferError(`presign multipart for "${name}" returned ${parts.length} parts for ${size} bytes in parts of ${ps}`);
  }
  const etags: { partNumber: number; etag: string }[] = [];
  // Parts are taken in order: a sequential source (a stream) is read front to back.
  let next = 0;
  // After one part fails for good, the others stop taking parts: the upload is aborted anyway.
  let failed = false;
  const worker = async () => {
    while (next < parts.length && !failed) {
      const part = parts[next++]!;
      const start = (part.partNumber - 1) * ps;
      const end = Math.min(start + ps, size);
      const body = await source.body(start, end);
      const answer = await sendWithRetry(
        { artifact: name, partNumber: part.partNumber },
        () => httpPut(part.url, {}, end - start, body, d.signal),
        d.signal,
        { beforeRetry: source.check, detail: async (a) => a.text.slice(0, 200) },
      );
      const etag = answer.etag;
      if (!etag)
        throw new ArtifactTransferError(`PUT part ${part.partNumber} of ${m.key} returned no ETag (expose it in the bucket's CORS rules)`);
      etags.push({ partNumber: part.partNumber, etag });
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.min(source.concurrency, parts.length) }, () =>
        worker().catch((err: unknown) => {
          failed = true;
          throw err;
        }),
      ),
    );
    await beforeComplete();
    etags.sort((a, b) => a.partNumber - b.partNumber);
    const done = await d.transport.presign(d.lease, { op: "complete", key: m.key, uploadId, parts: etags });
    return { key: m.key, size: done.size ?? size };
  } catch (err) {
    // Abort so the store keeps no orphaned parts; the original error is what the stage sees.
    await d.transport.presign(d.lease, { op: "abort", key: m.key, uploadId }).catch((abortErr: unknown) => {
      d.logger.warn({ key: m.key, uploadId, err: String(abortErr) }, "multipart abort failed");
    });
    throw err;
  }
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

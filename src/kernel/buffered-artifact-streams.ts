/**
 * The streaming half of `ctx.artifacts` for stages the orchestrator runs itself: its BlobStore
 * takes and returns whole buffers, so the bytes are gathered in memory here. Same checks and
 * results as a remote worker's streaming calls (exact declared size, null for a missing
 * artifact, the target file replaced only once complete); artifacts larger than memory belong
 * on remote workers.
 */
import { createReadStream } from "node:fs";
import { rename, rm, stat, writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import type { StageArtifacts } from "../contract/stage-types.js";
import { ValidationError } from "../contract/errors.js";

type Base = Pick<StageArtifacts, "put" | "get" | "list">;

/** Reads exactly `size` bytes of `source`, or throws a ValidationError naming the difference. */
export async function collectExactly(name: string, source: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array> {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new ValidationError("invalid artifact stream", [{ path: "size", message: `must be a whole number of bytes, got ${size}` }]);
  }
  const out = new Uint8Array(size);
  let filled = 0;
  for await (const chunk of source) {
    if (!(chunk instanceof Uint8Array)) {
      throw new ValidationError("invalid artifact stream", [{ path: name, message: "the stream yielded a non-byte chunk" }]);
    }
    if (filled + chunk.byteLength > size) {
      throw new ValidationError("artifact size mismatch", [
        { path: name, message: `expected ${size} bytes, but the stream ran on to at least ${filled + chunk.byteLength}` },
      ]);
    }
    out.set(chunk, filled);
    filled += chunk.byteLength;
  }
  if (filled !== size) {
    throw new ValidationError("artifact size mismatch", [
      { path: name, message: `expected ${size} bytes, but the stream ended after ${filled}` },
    ]);
  }
  return out;
}

/**
 * `base` plus putFile/putStream/getToFile/getStream implemented over its whole-buffer calls;
 * `keyOf` gives the full key a name reads (what getToFile reports, as on a remote worker).
 */
export function withBufferedStreams(base: Base, keyOf: (nameOrKey: string) => string): StageArtifacts {
  return {
    ...base,
    async putFile(name, path, opts) {
      const { size } = await stat(path);
      return base.put(name, await collectExactly(name, createReadStream(path), size), opts);
    },
    async putStream(name, source, opts) {
      return base.put(
        name,
        await collectExactly(name, source, opts.size),
        opts.contentType ? { contentType: opts.contentType } : undefined,
      );
    },
    async getToFile(nameOrKey, path) {
      const bytes = await base.get(nameOrKey);
      if (!bytes) return null;
      const tmp = `${path}.jetflow-partial-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      try {
        await writeFile(tmp, bytes);
        await rename(tmp, path);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      return { key: keyOf(nameOrKey), size: bytes.byteLength };
    },
    async getStream(nameOrKey) {
      const bytes = await base.get(nameOrKey);
      return bytes ? Readable.from([bytes]) : null;
    },
  };
}

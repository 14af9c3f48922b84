/**
 * A web ReadableStream that reads its source only when the consumer pulls, at most one chunk
 * ahead: what crosses to and from an activity thread. (Node 20's `Readable.toWeb` counts its
 * high-water mark in chunks, not bytes, and may read far ahead of its consumer.)
 */
import { ReadableStream } from "node:stream/web";

/** `source` as a web stream pulled one chunk at a time. */
export function iterableStream(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        const r = await it.next();
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
      async cancel(reason) {
        await it.return?.(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

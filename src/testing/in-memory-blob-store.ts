import type { BlobStore } from "../ports/blob-store.js";

interface StoredBlob {
  data: Uint8Array;
  contentType: string | null;
}

/** BlobStore in a Map. Bytes are copied in and out, like a network round trip would. */
export class InMemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, StoredBlob>();

  async put(key: string, data: Uint8Array, opts?: { contentType?: string }): Promise<void> {
    this.blobs.set(key, { data: new Uint8Array(data), contentType: opts?.contentType ?? null });
  }

  async get(key: string): Promise<Uint8Array | null> {
    const b = this.blobs.get(key);
    return b ? new Uint8Array(b.data) : null;
  }

  async has(key: string): Promise<boolean> {
    return this.blobs.has(key);
  }

  async delete(key: string): Promise<void> {
    this.blobs.delete(key);
  }

  async list(prefix: string): Promise<string[]> {
    // Sorted by UTF-16 code unit; S3 sorts by UTF-8 bytes, which agrees for the BMP keys we use.
    return [...this.blobs.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async deletePrefix(prefix: string): Promise<number> {
    let n = 0;
    for (const k of [...this.blobs.keys()]) if (k.startsWith(prefix) && this.blobs.delete(k)) n++;
    return n;
  }

  /** Test inspection: the content type stored with `key` (null when none or absent). */
  contentTypeOf(key: string): string | null {
    return this.blobs.get(key)?.contentType ?? null;
  }

  /** Test inspection: number of stored blobs. */
  get size(): number {
    return this.blobs.size;
  }
}

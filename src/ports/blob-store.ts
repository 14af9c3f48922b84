/** Byte storage for stage outputs and artifacts (S3 in production, memory in tests). */
export interface BlobStore {
  put(key: string, data: Uint8Array, opts?: { contentType?: string }): Promise<void>;
  /** Bytes under `key`, or null when absent. */
  get(key: string): Promise<Uint8Array | null>;
  has(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Keys starting with `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
  /** Deletes every key under `prefix`; returns how many were removed. */
  deletePrefix(prefix: string): Promise<number>;
}

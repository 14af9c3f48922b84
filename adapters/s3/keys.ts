/** Mapping between the adapter's key space and S3 object keys (the configured prefix). */
import { ValidationError } from "../../src/contract/errors.js";

/** S3's limit on an object key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/**
 * The S3 key for `key` under `prefix`. Rejects keys S3 cannot store, with the reason, rather
 * than letting the service answer a vaguer 400 later.
 */
export function objectKey(prefix: string, key: string): string {
  if (typeof key !== "string" || key.length === 0) {
    throw new ValidationError("invalid blob key", [{ path: "key", message: "must be a non-empty string" }]);
  }
  const full = prefix + key;
  if (Buffer.byteLength(full, "utf8") > MAX_KEY_BYTES) {
    throw new ValidationError("invalid blob key", [
      { path: "key", message: `with the store prefix must be at most ${MAX_KEY_BYTES} UTF-8 bytes (S3's key limit)` },
    ]);
  }
  return full;
}

/** The adapter key for an S3 key listed under `prefix`. */
export function stripPrefix(prefix: string, s3Key: string): string {
  return s3Key.slice(prefix.length);
}

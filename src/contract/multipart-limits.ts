/**
 * S3's multipart limits (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html),
 * shared by the orchestrator's presigner (adapters/s3) and the worker's streaming uploads, which
 * must pick a part size the presigner accepts before they know anything else about the store.
 */

const MiB = 1024 * 1024;
/** Smallest part S3 accepts, except for the last one. */
export const MIN_PART_SIZE = 5 * MiB;
/** Largest part S3 accepts. */
export const MAX_PART_SIZE = 5 * 1024 * MiB;
/** Most parts one upload may have. */
export const MAX_PARTS = 10_000;

/**
 * Part size for streaming `size` bytes: `preferred`, grown in whole MiB as far as needed for
 * 10,000 parts to cover `size`. Undefined when even 10,000 parts of 5 GiB cannot hold it.
 */
export function streamingPartSize(size: number, preferred: number): number | undefined {
  const ps = preferred * MAX_PARTS >= size ? preferred : Math.ceil(size / MAX_PARTS / MiB) * MiB;
  return ps > MAX_PART_SIZE ? undefined : ps;
}

/**
 * Most part URLs one presign reply carries (a page). A part URL with a 1,024-byte key and a long
 * upload id is about 2 KiB, so a page stays near 200 KiB, far below NATS's default 1 MiB
 * max_payload; the broker also trims a page that would exceed {@link PRESIGN_REPLY_BUDGET_BYTES}.
 */
export const PRESIGN_PAGE_MAX_PARTS = 100;
/** Largest presign reply the broker sends (bytes of JSON); a page of part URLs is cut to fit. */
export const PRESIGN_REPLY_BUDGET_BYTES = 256 * 1024;

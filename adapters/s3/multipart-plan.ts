/**
 * How an object of `size` bytes is cut into multipart-upload parts, within S3's limits
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html): parts of 5 MiB to 5 GiB
 * except the last, which may be smaller, and at most 10,000 parts per upload.
 */
import { ValidationError } from "../../src/contract/errors.js";
import { MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE } from "../../src/contract/multipart-limits.js";

export { MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE };

const MiB = 1024 * 1024;
/** Largest object S3 accepts in a single PUT. */
export const MAX_PUT_SIZE = 5 * 1024 * MiB;
/** Part size when the caller names none: few enough requests, small enough to retry cheaply. */
export const DEFAULT_PART_SIZE = 64 * MiB;

/** The cut of one object. */
export interface MultipartPlan {
  partSize: number;
  partCount: number;
  /** Size of the last part (equals partSize when size divides evenly). */
  lastPartSize: number;
}

function invalid(path: string, message: string): never {
  throw new ValidationError("invalid multipart upload", [{ path, message }]);
}

/**
 * Plans the parts. With no `partSize`, uses 64 MiB, grown (in whole MiB) as far as needed to
 * stay within 10,000 parts. An explicit `partSize` is honoured exactly or rejected with the
 * limit it breaks.
 */
export function planMultipart(size: number, partSize?: number): MultipartPlan {
  if (!Number.isSafeInteger(size) || size < 1) invalid("size", "must be a whole number of bytes, at least 1");
  let ps: number;
  if (partSize === undefined) {
    ps = Math.max(DEFAULT_PART_SIZE, Math.ceil(size / MAX_PARTS / MiB) * MiB);
    if (ps > MAX_PART_SIZE) {
      invalid("size", `${size} bytes exceed what S3 multipart can hold (${MAX_PARTS} parts of at most ${MAX_PART_SIZE} bytes)`);
    }
  } else {
    if (!Number.isSafeInteger(partSize) || partSize < 1) invalid("partSize", "must be a whole number of bytes, at least 1");
    if (partSize > MAX_PART_SIZE) invalid("partSize", `must be at most ${MAX_PART_SIZE} bytes (5 GiB, S3's part limit)`);
    // A part below 5 MiB is only legal as the last one, i.e. when everything fits in one part.
    if (partSize < MIN_PART_SIZE && size > partSize) {
      invalid("partSize", `must be at least ${MIN_PART_SIZE} bytes (5 MiB, S3's minimum for every part but the last)`);
    }
    ps = partSize;
  }
  const partCount = Math.ceil(size / ps);
  if (partCount > MAX_PARTS) {
    invalid(
      "partSize",
      `${size} bytes in parts of ${ps} bytes need ${partCount} parts, over S3's limit of ${MAX_PARTS} parts per upload; ` +
        `use partSize >= ${Math.ceil(size / MAX_PARTS)}`,
    );
  }
  return { partSize: ps, partCount, lastPartSize: size - (partCount - 1) * ps };
}

/** Byte size of part `partNumber` (1-based) under `plan`: what its URL is signed for. */
export function partSizeOf(plan: MultipartPlan, partNumber: number): number {
  const { start, end } = partRange(plan, partNumber);
  return end - start;
}

/** Byte range `[start, end)` of part `partNumber` (1-based) under `plan`: what a worker uploads. */
export function partRange(plan: MultipartPlan, partNumber: number): { start: number; end: number } {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > plan.partCount) {
    invalid("partNumber", `must be a whole number from 1 to ${plan.partCount}`);
  }
  const start = (partNumber - 1) * plan.partSize;
  return { start, end: partNumber === plan.partCount ? start + plan.lastPartSize : start + plan.partSize };
}

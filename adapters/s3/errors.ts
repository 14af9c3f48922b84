/**
 * Typed errors of the S3 adapter. Every failure that reaches a caller names the operation and
 * the object (bucket + key) so a log line alone says what broke.
 */
import { JetflowError, ValidationError, type ValidationIssue } from "../../src/contract/errors.js";

/** What the adapter was doing when S3 failed. */
export type S3Operation =
  | "put"
  | "get"
  | "has"
  | "delete"
  | "list"
  | "deletePrefix"
  | "presignGet"
  | "presignPut"
  | "createMultipartUpload"
  | "completeMultipartUpload"
  | "abortMultipartUpload";

/**
 * An S3 call failed. `code` is UNAVAILABLE for network errors and 5xx/throttling (worth
 * retrying), INTERNAL otherwise (access denied, missing bucket, bad request: retrying will not help).
 * `s3Code` is the service's error code (e.g. `AccessDenied`, `NoSuchBucket`), `status` its HTTP status.
 */
export class S3AdapterError extends JetflowError {
  readonly operation: S3Operation;
  readonly bucket: string;
  readonly key: string | undefined;
  readonly s3Code: string | undefined;
  readonly status: number | undefined;
  constructor(operation: S3Operation, bucket: string, key: string | undefined, cause: unknown) {
    const s3Code = errorName(cause);
    const status = httpStatus(cause);
    const retryable = status === undefined || status >= 500 || status === 429 || s3Code === "SlowDown";
    const where = key === undefined ? `s3://${bucket}` : `s3://${bucket}/${key}`;
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      retryable ? "UNAVAILABLE" : "INTERNAL",
      `S3 ${operation} ${where} failed${s3Code ? ` (${s3Code}${status ? ` ${status}` : ""})` : ""}: ${why}`,
      {
        operation,
        bucket,
        key,
        s3Code,
        status,
      },
    );
    this.operation = operation;
    this.bucket = bucket;
    this.key = key;
    this.s3Code = s3Code;
    this.status = status;
    this.cause = cause;
  }
}

/** The SDK's service exception name (`NoSuchKey`, `NotFound`, ...), if any. */
export function errorName(err: unknown): string | undefined {
  return err instanceof Error && err.name !== "Error" ? err.name : undefined;
}

/** The HTTP status an SDK error carries in `$metadata`, if any. */
export function httpStatus(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata;
  return typeof meta?.httpStatusCode === "number" ? meta.httpStatusCode : undefined;
}

/** True for "no such object" from GetObject (NoSuchKey) and HeadObject (NotFound, no body). */
export function isNotFound(err: unknown): boolean {
  const name = errorName(err);
  return name === "NoSuchKey" || name === "NotFound" || (httpStatus(err) === 404 && name !== "NoSuchBucket");
}

/** Bad adapter config or arguments; `issues` name each failing field. */
export class S3ConfigError extends ValidationError {
  constructor(what: string, issues: ValidationIssue[]) {
    super(what, issues);
  }
}

/**
 * A completed multipart object is not the size declared when the upload started, or is over the
 * caller's limit. The object has been deleted; retrying the same upload cannot help.
 */
export class UploadSizeMismatchError extends JetflowError {
  constructor(
    readonly bucket: string,
    readonly key: string,
    readonly size: number,
    readonly declaredSize: number | undefined,
    readonly maxSize: number | undefined,
  ) {
    const why =
      declaredSize !== undefined && size !== declaredSize
        ? `its ${size} bytes differ from the ${declaredSize} bytes declared when the upload started`
        : `its ${size} bytes exceed the limit of ${maxSize} bytes`;
    super("VALIDATION", `multipart upload s3://${bucket}/${key} refused and deleted: ${why}`, { bucket, key, size, declaredSize, maxSize });
  }
}

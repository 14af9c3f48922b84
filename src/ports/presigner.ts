/** A URL that grants one operation on one object until it expires; holds no standing credential. */
export interface PresignedUrl {
  url: string;
  method: "GET" | "PUT";
  key: string;
  expiresAt: Date;
  /** Headers the client must send exactly as given (signed), e.g. content-type. */
  headers: Record<string, string>;
}

/** One part's presigned upload URL, valid only for a body of exactly `size` bytes. */
export interface PresignedPart {
  partNumber: number;
  url: string;
  size: number;
}

/** A multipart upload with presigned URLs for its first parts (all of them unless `signParts` said fewer). */
export interface MultipartUpload {
  key: string;
  uploadId: string;
  partSize: number;
  /** How many parts the upload has in all. */
  partCount: number;
  parts: PresignedPart[];
  expiresAt: Date;
}

/**
 * Signs object-store URLs for workers (orchestrator side only). Keys are confined by the caller
 * (the broker) to the task's prefix; the presigner signs what it is asked.
 */
export interface Presigner {
  presignGet(key: string, opts?: { expiresInSec?: number }): Promise<PresignedUrl>;
  /**
   * A PUT URL for a body of exactly `size` bytes: the size is signed (Content-Length), so the store
   * refuses any other body.
   */
  presignPut(key: string, opts: { size: number; expiresInSec?: number; contentType?: string }): Promise<PresignedUrl>;
  /**
   * Starts a multipart upload of `size` bytes and presigns one PUT URL per part (only the first
   * `signParts` when given), each signed for its exact part size; the declared `size` is recorded
   * with the upload for `completeMultipartUpload`.
   */
  createMultipartUpload(
    key: string,
    opts: { size: number; partSize?: number; expiresInSec?: number; contentType?: string; signParts?: number },
  ): Promise<MultipartUpload>;
  /**
   * Fresh URLs for some parts of an upload already started (a page, or URLs that expired). `size`
   * and `partSize` must be those the upload was created with: each URL is signed for its part's size.
   */
  presignUploadParts(
    key: string,
    uploadId: string,
    partNumbers: number[],
    opts: { size: number; partSize?: number; expiresInSec?: number },
  ): Promise<{ parts: PresignedPart[]; expiresAt: Date }>;
  /**
   * Completes the upload, then checks the stored object: its size must equal the size declared at
   * creation and must not exceed `maxSize`; otherwise the object is deleted and an error thrown.
   * Resolves with the stored size.
   */
  completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
    opts?: { maxSize?: number },
  ): Promise<{ size: number }>;
  abortMultipartUpload(key: string, uploadId: string): Promise<void>;
}

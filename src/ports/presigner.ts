/** A URL that grants one operation on one object until it expires; holds no standing credential. */
export interface PresignedUrl {
  url: string;
  method: "GET" | "PUT";
  key: string;
  expiresAt: Date;
  /** Headers the client must send exactly as given (signed), e.g. content-type. */
  headers: Record<string, string>;
}

/** One part's presigned upload URL. */
export interface PresignedPart {
  partNumber: number;
  url: string;
}

/** A multipart upload with a presigned URL per part. */
export interface MultipartUpload {
  key: string;
  uploadId: string;
  partSize: number;
  parts: PresignedPart[];
  expiresAt: Date;
}

/**
 * Signs object-store URLs for workers (orchestrator side only). Keys are confined by the caller
 * (the broker) to the task's prefix; the presigner signs what it is asked.
 */
export interface Presigner {
  presignGet(key: string, opts?: { expiresInSec?: number }): Promise<PresignedUrl>;
  presignPut(key: string, opts?: { expiresInSec?: number; contentType?: string }): Promise<PresignedUrl>;
  /** Starts a multipart upload of `size` bytes and presigns one PUT URL per part. */
  createMultipartUpload(
    key: string,
    opts: { size: number; partSize?: number; expiresInSec?: number; contentType?: string },
  ): Promise<MultipartUpload>;
  completeMultipartUpload(key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<void>;
  abortMultipartUpload(key: string, uploadId: string): Promise<void>;
}

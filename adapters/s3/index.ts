/**
 * `jetflow/s3`: BlobStore and Presigner on AWS S3, Cloudflare R2, MinIO and other
 * S3-compatible stores. Orchestrator side only: workers get presigned URLs, never credentials.
 */

// Port implementations
export { createS3BlobStore } from "./blob-store.js";
export { createS3Presigner } from "./presigner.js";

// Errors
export { S3AdapterError, S3ConfigError, UploadSizeMismatchError } from "./errors.js";

// Limits and multipart planning
export { MAX_PRESIGN_EXPIRES_SEC } from "./config.js";
export { DEFAULT_PART_SIZE, MAX_PART_SIZE, MAX_PARTS, MAX_PUT_SIZE, MIN_PART_SIZE, partRange, planMultipart } from "./multipart-plan.js";
export { MAX_KEY_BYTES } from "./keys.js";

// Adapter and config types
export type { S3BlobStore } from "./blob-store.js";
export type { S3Presigner } from "./presigner.js";
export type { S3BlobStoreConfig, S3ClientOptions, S3PresignerConfig } from "./config.js";
export type { S3Operation } from "./errors.js";
export type { MultipartPlan } from "./multipart-plan.js";

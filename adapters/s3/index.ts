/**
 * `jetflow/s3`: BlobStore and Presigner on AWS S3, Cloudflare R2, MinIO and other
 * S3-compatible stores. Orchestrator side only: workers get presigned URLs, never credentials.
 */
export { createS3BlobStore, type S3BlobStore } from "./blob-store.js";
export { createS3Presigner, type S3Presigner } from "./presigner.js";
export { MAX_PRESIGN_EXPIRES_SEC, type S3BlobStoreConfig, type S3ClientOptions, type S3PresignerConfig } from "./config.js";
export { S3AdapterError, S3ConfigError, type S3Operation } from "./errors.js";
export { DEFAULT_PART_SIZE, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, partRange, planMultipart, type MultipartPlan } from "./multipart-plan.js";
export { MAX_KEY_BYTES } from "./keys.js";

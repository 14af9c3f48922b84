/**
 * Shared pieces of the S3 integration tests: a per-file S3 service with the adapters wired to
 * it, and what a credential-free worker does with presigned URLs (plain `fetch`, no SDK).
 */
import { createHash, randomBytes } from "node:crypto";
import {
  createS3BlobStore,
  createS3Presigner,
  type S3BlobStore,
  type S3Presigner,
  type S3PresignerConfig,
} from "../../adapters/s3/index.js";
import type { PresignedUrl } from "../../src/ports/presigner.js";
import { services, type S3Service } from "../harness/index.js";
import { s3ClientConfig } from "../harness/s3.js";

/** The adapter `clientConfig` for `svc` (what an operator would put in a config file). */
export function adapterClientConfig(svc: S3Service, secretAccessKey = svc.secretAccessKey): NonNullable<S3PresignerConfig["clientConfig"]> {
  return {
    endpoint: svc.endpoint,
    region: svc.region,
    credentials: { accessKeyId: svc.accessKeyId, secretAccessKey },
    forcePathStyle: true,
  };
}

/** Starts this file's S3 service (null = unavailable, tests skipped loudly by the harness). */
export async function startS3(): Promise<{ svc: S3Service; stop(): Promise<void> } | null> {
  const s = await services(["s3"]);
  return s ? { svc: s.s3, stop: () => s.stop() } : null;
}

/** A presigner and a blob store on `svc`'s bucket, under `prefix`. */
export function adapters(
  svc: S3Service,
  opts: { prefix?: string; presigner?: Partial<S3PresignerConfig> } = {},
): { presigner: S3Presigner; store: S3BlobStore } {
  const clientConfig = adapterClientConfig(svc);
  return {
    presigner: createS3Presigner({ bucket: svc.bucket, prefix: opts.prefix, clientConfig, ...opts.presigner }),
    store: createS3BlobStore({ bucket: svc.bucket, prefix: opts.prefix, clientConfig }),
  };
}

/** `n` random bytes and their sha256. */
export function randomBlob(n: number): { data: Uint8Array; sha256: string } {
  const data = new Uint8Array(randomBytes(n));
  return { data, sha256: sha256(data) };
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** What a worker does with a presigned PUT: send exactly the signed headers, nothing else. */
export async function putWithUrl(
  p: Pick<PresignedUrl, "url" | "headers">,
  body: Uint8Array,
  extraHeaders: Record<string, string> = {},
): Promise<Response> {
  return fetch(p.url, { method: "PUT", body, headers: { ...p.headers, ...extraHeaders } });
}

/** Reads the whole response (so the socket is released) and returns status + text. */
export async function drain(res: Response): Promise<{ status: number; text: string }> {
  return { status: res.status, text: await res.text() };
}

/** The same URL with one character of its X-Amz-Signature changed. */
export function tamperSignature(url: string): string {
  const u = new URL(url);
  const sig = u.searchParams.get("X-Amz-Signature");
  if (!sig) throw new Error(`not a SigV4 presigned URL: ${url}`);
  const last = sig.at(-1)!;
  u.searchParams.set("X-Amz-Signature", sig.slice(0, -1) + (last === "0" ? "1" : "0"));
  return u.toString();
}

/** The same URL without any SigV4 query parameter: an anonymous request. */
export function stripSignature(url: string): string {
  const u = new URL(url);
  for (const k of [...u.searchParams.keys()]) if (k.toLowerCase().startsWith("x-amz-")) u.searchParams.delete(k);
  return u.toString();
}

/** Uploads `data` through presigned part URLs with bounded concurrency; returns the ETags. */
export async function uploadParts(
  parts: { partNumber: number; url: string }[],
  partSize: number,
  data: Uint8Array,
  concurrency = 4,
): Promise<{ partNumber: number; etag: string }[]> {
  const out: { partNumber: number; etag: string }[] = [];
  const queue = [...parts];
  const worker = async (): Promise<void> => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      const start = (p.partNumber - 1) * partSize;
      const res = await fetch(p.url, { method: "PUT", body: data.subarray(start, Math.min(start + partSize, data.byteLength)) });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`part ${p.partNumber}: HTTP ${res.status} ${text}`);
      const etag = res.headers.get("etag");
      if (!etag) throw new Error(`part ${p.partNumber}: no ETag header`);
      out.push({ partNumber: p.partNumber, etag });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

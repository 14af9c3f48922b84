/**
 * Test fixture for remote activities: in-memory task store and blob store, a Presigner whose
 * URLs point at a tiny local HTTP object server (PUT/GET, multipart parts with ETags), a
 * FakeClock-free broker (system clock unless given) and the in-process transport.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Clock } from "../../../src/ports/clock.js";
import type { MultipartUpload, PresignedUrl, Presigner } from "../../../src/ports/presigner.js";
import type { AnyStage, StageContext } from "../../../src/contract/stage-types.js";
import { InMemoryActivityTaskStore } from "../../../src/testing/in-memory-activity-task-store.js";
import { InMemoryBlobStore } from "../../../src/testing/in-memory-blob-store.js";
import { Broker } from "../../../src/remote/broker.js";
import type { BrokerOptions } from "../../../src/remote/broker-options.js";
import { createInProcessTransport, type InProcessTransport } from "../../../src/remote/in-process-transport.js";

/** A local object server backed by a BlobStore, so presigned URLs really move bytes over HTTP. */
export class LocalObjectServer implements Presigner {
  private server: Server | null = null;
  private base = "";
  readonly uploads = new Map<string, { key: string; parts: Map<number, Uint8Array> }>();
  readonly signed: { op: string; key: string }[] = [];
  /** Fault injection: a status to answer instead of handling the request (undefined handles it). */
  fault: ((method: string, url: URL) => number | undefined) | null = null;
  /** Clock of URL expiry (a part URL past its `exp` is answered 403 "Request has expired", as S3 does). */
  now: () => number = Date.now;
  /** Lifetime of every part URL signed from now on. */
  partUrlLifetimeMs = 60_000;
  /** Part numbers signed, in signing order (first page and later pages alike). */
  readonly signedParts: number[] = [];
  constructor(readonly blobs: InMemoryBlobStore) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        void this.handle(req.method ?? "GET", new URL(req.url ?? "/", "http://x"), new Uint8Array(Buffer.concat(chunks))).then(
          ({ status, body, headers }) => {
            res.writeHead(status, headers ?? {});
            res.end(body ? Buffer.from(body) : undefined);
          },
          (err: unknown) => {
            res.writeHead(500);
            res.end(String(err));
          },
        );
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    if (this.server) await new Promise<void>((r) => this.server!.close(() => r()));
  }

  private async handle(
    method: string,
    url: URL,
    body: Uint8Array,
  ): Promise<{ status: number; body?: Uint8Array; headers?: Record<string, string> }> {
    const injected = this.fault?.(method, url);
    if (injected !== undefined) return { status: injected };
    const key = decodeURIComponent(url.pathname.slice("/o/".length));
    // Like a store checking a signed Content-Length: an upload URL takes exactly its size.
    const signedSize = url.searchParams.get("size");
    if (method === "PUT" && signedSize !== null && Number(signedSize) !== body.byteLength) return { status: 403 };
    const uploadId = url.searchParams.get("uploadId");
    const exp = url.searchParams.get("exp");
    if (method === "PUT" && exp !== null && this.now() >= Number(exp)) {
      return {
        status: 403,
        body: new TextEncoder().encode("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"),
      };
    }
    if (method === "PUT" && uploadId) {
      const u = this.uploads.get(uploadId);
      if (!u) return { status: 404 };
      const n = Number(url.searchParams.get("partNumber"));
      u.parts.set(n, body);
      return { status: 200, headers: { etag: `"etag-${n}"` } };
    }
    if (method === "PUT") {
      await this.blobs.put(key, body);
      return { status: 200 };
    }
    const got = await this.blobs.get(key);
    return got ? { status: 200, body: got } : { status: 404 };
  }

  private url(key: string, method: "GET" | "PUT", size?: number): PresignedUrl {
    this.signed.push({ op: method, key });
    const q = size === undefined ? "" : `?size=${size}`;
    return { url: `${this.base}/o/${encodeURIComponent(key)}${q}`, method, key, expiresAt: new Date(Date.now() + 60_000), headers: {} };
  }
  async presignGet(key: string) {
    return this.url(key, "GET");
  }
  async presignPut(key: string, opts: { size: number }) {
    return this.url(key, "PUT", opts.size);
  }
  async createMultipartUpload(key: string, opts: { size: number; partSize?: number; signParts?: number }): Promise<MultipartUpload> {
    const partSize = opts.partSize ?? 5 * 1024 * 1024;
    const uploadId = randomUUID();
    this.uploads.set(uploadId, { key, parts: new Map() });
    this.signed.push({ op: "multipart", key });
    const n = Math.max(1, Math.ceil(opts.size / partSize));
    const numbers = Array.from({ length: Math.min(n, opts.signParts ?? n) }, (_, i) => i + 1);
    const { parts, expiresAt } = this.signParts(key, uploadId, numbers, opts.size, partSize);
    return { key, uploadId, partSize, partCount: n, parts, expiresAt };
  }
  async presignUploadParts(key: string, uploadId: string, partNumbers: number[], opts: { size: number; partSize?: number }) {
    return this.signParts(key, uploadId, partNumbers, opts.size, opts.partSize ?? 5 * 1024 * 1024);
  }
  private signParts(key: string, uploadId: string, numbers: number[], size: number, partSize: number) {
    const n = Math.max(1, Math.ceil(size / partSize));
    const sizeOf = (p: number): number => (p < n ? partSize : size - (n - 1) * partSize);
    const exp = this.now() + this.partUrlLifetimeMs;
    this.signedParts.push(...numbers);
    const parts = numbers.map((p) => ({
      partNumber: p,
      size: sizeOf(p),
      url: `${this.base}/o/${encodeURIComponent(key)}?uploadId=${uploadId}&partNumber=${p}&size=${sizeOf(p)}&exp=${exp}`,
    }));
    return { parts, expiresAt: new Date(exp) };
  }
  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
    opts: { maxSize?: number } = {},
  ): Promise<{ size: number }> {
    const u = this.uploads.get(uploadId);
    if (!u || u.key !== key) throw new Error(`unknown upload ${uploadId}`);
    const chunks = parts.map((p) => {
      const c = u.parts.get(p.partNumber);
      if (!c || p.etag !== `"etag-${p.partNumber}"`) throw new Error(`part ${p.partNumber} missing or bad etag`);
      return c;
    });
    const object = new Uint8Array(Buffer.concat(chunks));
    if (opts.maxSize !== undefined && object.byteLength > opts.maxSize) throw new Error(`object over ${opts.maxSize} bytes`);
    await this.blobs.put(key, object);
    this.uploads.delete(uploadId);
    return { size: object.byteLength };
  }
  async abortMultipartUpload(_key: string, uploadId: string): Promise<void> {
    this.uploads.delete(uploadId);
  }
}

export interface Fixture {
  store: InMemoryActivityTaskStore;
  blobs: InMemoryBlobStore;
  objects: LocalObjectServer;
  broker: Broker;
  transport: InProcessTransport;
  close(): Promise<void>;
}

export async function makeFixture(
  opts: {
    clock?: Clock;
    leaseMs?: number;
    http?: boolean;
    maxUploadBytes?: number;
    broker?: Pick<BrokerOptions, "presignPageParts" | "presignExpiresInSec" | "uploadTicketSecret">;
  } = {},
): Promise<Fixture> {
  const store = new InMemoryActivityTaskStore();
  const blobs = new InMemoryBlobStore();
  const objects = new LocalObjectServer(blobs);
  if (opts.http) await objects.start();
  const clock = opts.clock ?? { now: () => new Date() };
  const broker = new Broker({
    store,
    presigner: objects,
    clock,
    blobStore: blobs,
    leaseMs: opts.leaseMs ?? 30_000,
    ...(opts.maxUploadBytes !== undefined ? { maxUploadBytes: opts.maxUploadBytes } : {}),
    ...opts.broker,
  });
  const transport = createInProcessTransport(broker, { clock });
  return { store, blobs, objects, broker, transport, close: () => objects.close() };
}

/** A plain sync stage object (no builder needed). */
export function stage(
  id: string,
  execute: (ctx: StageContext<any, any>) => Promise<{ output: unknown }>,
  schemas?: Partial<AnyStage["schemas"]>,
): AnyStage {
  return {
    id,
    name: id,
    dependencies: [],
    mode: "sync",
    schemas: { input: z.object({ n: z.number() }), output: z.object({ r: z.number() }), config: z.object({}).default({}), ...schemas },
    retry: { maxAttempts: 3, backoffMs: 1, maxBackoffMs: 5 },
    execute: execute as AnyStage["execute"],
  };
}

/** A spec for broker.submit with defaults. */
export function spec(over: Partial<Parameters<Broker["submit"]>[0]> = {}): Parameters<Broker["submit"]>[0] {
  return {
    workflowRunId: "run-1",
    workflowId: "wf",
    stageId: "heavy",
    kernelAttempt: 1,
    queue: "q",
    codeVersion: "v1",
    input: { n: 2 },
    config: {},
    ...over,
  };
}

/** Waits until `cond()` holds, polling on the event loop, failing after `ms` (a bound, not a sleep). */
export async function until(cond: () => boolean | Promise<boolean>, ms = 3_000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** A promise with its resolve, for blocking stage bodies until the test says go. */
export function gate<T = void>(): { promise: Promise<T>; open(v: T): void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

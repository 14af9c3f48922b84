/**
 * `ctx.artifacts` on a remote worker: every transfer goes straight to the object store over a
 * URL the orchestrator presigned for this attempt (the worker holds no storage credential).
 * Objects larger than `partSize` are uploaded as presigned multipart. `putFile`/`putStream` and
 * `getToFile`/`getStream` stream with memory bounded by the part size (./artifact-upload.ts,
 * ./artifact-download.ts); `put`/`get` hold the whole object.
 */
import { DEFAULT_PART_SIZE } from "../src/contract/defaults.js";
import type { StageArtifacts } from "../src/contract/stage-types.js";
import type { LeasedTask, WorkerTransport } from "./transport.js";
import { ArtifactTooLargeError, ArtifactTransferError } from "./errors.js";
import type { WorkerLogger } from "./logger.js";
import { SpanKind, inSpan } from "../src/contract/spans.js";
import { putBytesStreaming, putFileStreaming, putStreamStreaming, type UploadDeps } from "./artifact-upload.js";
import { PRESIGN_PAGE_MAX_PARTS } from "../src/contract/multipart-limits.js";
import { getStreamStreaming, getToFileStreaming } from "./artifact-download.js";

export { DEFAULT_PART_SIZE };

export interface ArtifactOptions {
  partSize: number;
  signal: AbortSignal;
  logger: WorkerLogger;
  /** Parts uploaded at once. */
  partConcurrency?: number;
  /** Part URLs asked of the broker per request (it may cap them lower). Default {@link PRESIGN_PAGE_MAX_PARTS}. */
  pageParts?: number;
  /** Epoch ms for the expiry of part URLs. Default Date.now. */
  now?: () => number;
}

export function createRemoteArtifacts(transport: WorkerTransport, lease: LeasedTask, o: ArtifactOptions): StageArtifacts {
  // Transfers are CLIENT spans under the worker's `activity.execute` span; failures carry ERROR status.
  const spanAttrs = (name: string, extra: Record<string, string | number> = {}) => ({
    "jetflow.task.id": lease.task.taskId,
    "jetflow.artifact.name": name,
    ...extra,
  });
  const up: UploadDeps = {
    transport,
    lease,
    partSize: o.partSize,
    partConcurrency: o.partConcurrency ?? 4,
    signal: o.signal,
    logger: o.logger,
    pageParts: o.pageParts ?? PRESIGN_PAGE_MAX_PARTS,
    now: o.now ?? Date.now,
  };
  const down = { transport, lease, signal: o.signal };
  const uploadSpan = (name: string, extra: Record<string, string | number>, fn: () => Promise<{ key: string; size: number }>) =>
    inSpan(
      "artifact.upload",
      { kind: SpanKind.CLIENT, attributes: spanAttrs(name, { ...extra, "jetflow.artifact.streaming": "true" }) },
      async (span) => {
        const out = await fn();
        span.setAttribute("jetflow.artifact.size", out.size);
        return out;
      },
    );
  return {
    async put(name, data, opts) {
      const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
      const contentType = opts?.contentType;
      // Refuse before any request: the broker would refuse the presign, and the URL binds the size anyway.
      const limit = lease.task.maxUploadBytes;
      if (limit !== undefined && bytes.byteLength > limit) throw new ArtifactTooLargeError(name, bytes.byteLength, limit);
      const multipart = bytes.byteLength > o.partSize;
      return inSpan(
        "artifact.upload",
        {
          kind: SpanKind.CLIENT,
          attributes: spanAttrs(name, { "jetflow.artifact.size": bytes.byteLength, "jetflow.artifact.multipart": String(multipart) }),
        },
        async () => {
          if (multipart) return putBytesStreaming(up, name, bytes, contentType);
          const p = await transport.presign(lease, {
            op: "put",
            key: name,
            size: bytes.byteLength,
            ...(contentType ? { contentType } : {}),
          });
          if (!p.url) throw new ArtifactTransferError(`presign put for "${name}" returned no URL`);
          const res = await fetch(p.url, { method: "PUT", headers: p.headers ?? {}, body: bytes, signal: o.signal });
          if (!res.ok) throw new ArtifactTransferError(`PUT ${p.key} failed: HTTP ${res.status} ${await safeText(res)}`);
          return { key: p.key, size: bytes.byteLength };
        },
      );
    },
    async get(nameOrKey) {
      return inSpan("artifact.download", { kind: SpanKind.CLIENT, attributes: spanAttrs(nameOrKey) }, async (span) => {
        const p = await transport.presign(lease, { op: "get", key: nameOrKey });
        if (!p.url) throw new ArtifactTransferError(`presign get for "${nameOrKey}" returned no URL`);
        const res = await fetch(p.url, { method: "GET", headers: p.headers ?? {}, signal: o.signal });
        if (res.status === 404) return null;
        if (!res.ok) throw new ArtifactTransferError(`GET ${p.key} failed: HTTP ${res.status} ${await safeText(res)}`);
        const bytes = new Uint8Array(await res.arrayBuffer());
        span.setAttribute("jetflow.artifact.size", bytes.byteLength);
        return bytes;
      });
    },
    async list() {
      const p = await transport.presign(lease, { op: "list", key: "" });
      return p.keys ?? [];
    },
    async putFile(name, path, opts) {
      return uploadSpan(name, { "jetflow.artifact.source": "file" }, () => putFileStreaming(up, name, path, opts?.contentType));
    },
    async putStream(name, source, opts) {
      return uploadSpan(name, { "jetflow.artifact.source": "stream" }, () =>
        putStreamStreaming(up, name, source, opts.size, opts.contentType),
      );
    },
    async getToFile(nameOrKey, path) {
      return inSpan(
        "artifact.download",
        { kind: SpanKind.CLIENT, attributes: spanAttrs(nameOrKey, { "jetflow.artifact.streaming": "true" }) },
        async (span) => {
          const got = await getToFileStreaming(down, nameOrKey, path);
          if (got) span.setAttribute("jetflow.artifact.size", got.size);
          return got;
        },
      );
    },
    async getStream(nameOrKey) {
      // The span covers opening the stream; the caller reads the body at its own pace.
      return inSpan(
        "artifact.download",
        { kind: SpanKind.CLIENT, attributes: spanAttrs(nameOrKey, { "jetflow.artifact.streaming": "true" }) },
        () => getStreamStreaming(down, nameOrKey),
      );
    },
  };
}

async function safeText(res: Response): Promise<string> {
  try {
    return (await res.text()).slice(0, 200);
  } catch (err) {
    return `(body unreadable: ${String(err)})`;
  }
}

/**
 * The multipart ops of a presign, for an attempt whose lease and key the caller has checked. Part
 * URLs are signed a page at a time (`multipart` signs the first page, `parts` any later one or a
 * page whose URLs are near expiry), so a reply stays far below NATS's max_payload and every URL is
 * fresh when it is used, however long the upload runs. The upload id is bound to the attempt, key
 * and declared sizes by an upload ticket.
 */
import type { PresignReply, PresignRequest } from "../contract/tasks.js";
import { JetflowError } from "../contract/errors.js";
import { MAX_PARTS, PRESIGN_REPLY_BUDGET_BYTES } from "../contract/multipart-limits.js";
import type { PresignedPart } from "../ports/presigner.js";
import type { PresignDeps } from "./broker-presign.js";
import { checkUploadTicket, issueUploadTicket, type TicketFields } from "./upload-ticket.js";

/** Serves op multipart, parts, complete or abort of `req` for the resolved `key`. */
export async function multipartOp(
  deps: PresignDeps,
  req: PresignRequest,
  key: string,
  bounded: (size: number) => number,
  maxUploadBytes: number,
): Promise<PresignReply> {
  const expiresInSec = deps.expiresInSec;
  const fields = (uploadId: string, size: number, partSize: number): TicketFields => ({
    taskId: req.taskId,
    attempt: req.attempt,
    key,
    uploadId,
    size,
    partSize,
  });
  switch (req.op) {
    case "multipart": {
      const size = bounded(req.size!);
      const m = await deps.presigner.createMultipartUpload(key, {
        size,
        expiresInSec,
        signParts: Math.min(req.partsCount ?? deps.pageMaxParts, deps.pageMaxParts),
        ...(req.partSize ? { partSize: req.partSize } : {}),
        ...(req.contentType ? { contentType: req.contentType } : {}),
      });
      const uploadTicket = issueUploadTicket(deps.uploadTicketSecret, fields(m.uploadId, size, m.partSize));
      const base = { key, uploadId: m.uploadId, partSize: m.partSize, partCount: m.partCount, size, uploadTicket };
      return fitPage(base, m.parts, m.expiresAt);
    }
    case "parts": {
      const size = bounded(req.size!);
      const partSize = req.partSize!;
      checkUploadTicket(deps.uploadTicketSecret, fields(req.uploadId!, size, partSize), req.uploadTicket);
      const partCount = Math.ceil(size / partSize);
      const from = req.partsFrom!;
      if (partCount > MAX_PARTS || from > partCount) {
        throw new JetflowError(
          "VALIDATION",
          `parts from ${from} asked for an upload of ${partCount} parts (parts are 1..${Math.min(partCount, MAX_PARTS)})`,
          {
            key,
          },
        );
      }
      const count = Math.min(req.partsCount ?? deps.pageMaxParts, deps.pageMaxParts, partCount - from + 1);
      const numbers = Array.from({ length: count }, (_, i) => from + i);
      const p = await deps.presigner.presignUploadParts(key, req.uploadId!, numbers, { size, partSize, expiresInSec });
      return fitPage({ key, uploadId: req.uploadId!, partSize, partCount, size }, p.parts, p.expiresAt);
    }
    case "complete": {
      ticketIfPresented(deps, req, fields);
      const done = await deps.presigner.completeMultipartUpload(key, req.uploadId!, req.parts!, { maxSize: maxUploadBytes });
      return { key, size: done.size };
    }
    case "abort":
      ticketIfPresented(deps, req, fields);
      await deps.presigner.abortMultipartUpload(key, req.uploadId!);
      return { key };
    default:
      throw new JetflowError("INTERNAL", `multipartOp called for op ${req.op}`);
  }
}

/**
 * complete and abort from workers that predate tickets carry none (their upload id is still
 * confined to the attempt's key by the store); one that is presented must be right.
 */
function ticketIfPresented(
  deps: PresignDeps,
  req: PresignRequest,
  fields: (uploadId: string, size: number, partSize: number) => TicketFields,
): void {
  if (req.uploadTicket === undefined) return;
  if (req.size === undefined || req.partSize === undefined) {
    throw new JetflowError("VALIDATION", `${req.op} with an uploadTicket needs the upload's size and partSize`, { key: req.key });
  }
  checkUploadTicket(deps.uploadTicketSecret, fields(req.uploadId!, req.size, req.partSize), req.uploadTicket);
}

/**
 * The reply with as many of `parts` (in order) as fit in PRESIGN_REPLY_BUDGET_BYTES: a long key
 * or upload id (or a store with long URLs) gets a shorter page, never a reply NATS refuses.
 */
export function fitPage(base: PresignReply, parts: PresignedPart[], expiresAt: Date): PresignReply {
  const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
  const page = sorted.map((p) => ({ partNumber: p.partNumber, url: p.url, size: p.size }));
  const reply = { ...base, parts: page, expiresAt: expiresAt.toISOString() };
  let bytes = Buffer.byteLength(JSON.stringify(reply));
  while (bytes > PRESIGN_REPLY_BUDGET_BYTES && page.length > 1) {
    const last = page.pop()!;
    bytes -= Buffer.byteLength(JSON.stringify(last)) + 1;
  }
  if (bytes > PRESIGN_REPLY_BUDGET_BYTES) {
    throw new JetflowError(
      "INTERNAL",
      `one part URL of "${base.key}" does not fit in a presign reply of ${PRESIGN_REPLY_BUDGET_BYTES} bytes`,
    );
  }
  return reply;
}

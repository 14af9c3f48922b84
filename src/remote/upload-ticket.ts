/**
 * Upload tickets bind a multipart upload id to the attempt that started it. The broker signs part
 * URLs page by page for the whole of a long upload, and the upload id comes back from the worker
 * each time: the ticket (an HMAC under a secret only orchestrators hold) proves that this task,
 * attempt, key and declared sizes are the ones the broker started the upload for, so a worker cannot
 * have parts signed for another attempt's or another task's upload, nor for a larger object.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { JetflowError } from "../contract/errors.js";

/** What a ticket binds. */
export interface TicketFields {
  taskId: string;
  attempt: number;
  key: string;
  uploadId: string;
  size: number;
  partSize: number;
}

function mac(secret: string, f: TicketFields): string {
  // JSON of a fixed field order: no separator a key could contain makes two tuples collide.
  const text = JSON.stringify(["jetflow-upload-ticket/1", f.taskId, f.attempt, f.key, f.uploadId, f.size, f.partSize]);
  return createHmac("sha256", secret).update(text).digest("base64url");
}

/** The ticket of an upload the broker has just started. */
export function issueUploadTicket(secret: string, f: TicketFields): string {
  return mac(secret, f);
}

/**
 * @throws JetflowError (VALIDATION) when `ticket` was not issued for exactly these fields: another
 * attempt's or task's upload, another key, other sizes, or a ticket from a broker with another secret.
 */
export function checkUploadTicket(secret: string, f: TicketFields, ticket: string | undefined): void {
  const expected = Buffer.from(mac(secret, f));
  const got = Buffer.from(ticket ?? "");
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
    throw new JetflowError(
      "VALIDATION",
      `upload ${f.uploadId} of key "${f.key}" was not started by attempt ${f.attempt} of task ${f.taskId} with size ${f.size} ` +
        `and partSize ${f.partSize} (bad or missing uploadTicket; orchestrators sharing a queue need the same remote.uploadTicketSecret, or none so they share the database's)`,
      { key: f.key, uploadId: f.uploadId },
    );
  }
}

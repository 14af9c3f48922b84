/**
 * Reads what a worker needs to know from its `.creds` file (issued by `jetflow creds issue`):
 * the inbox prefix its credential may subscribe to. Connecting with any other inbox prefix would
 * make every request time out, since replies could never be delivered.
 */
import { parseCreds } from "@nats-io/jwt";

/** The credential's own `_INBOX_<name>` prefix, or null when it may subscribe to the default `_INBOX`. */
export async function inboxPrefixFromCreds(creds: string | Uint8Array): Promise<string | null> {
  const bytes = typeof creds === "string" ? new TextEncoder().encode(creds) : creds;
  let allow: string[];
  try {
    allow = (await parseCreds(bytes)).uc.nats.sub?.allow ?? [];
  } catch (e) {
    throw new Error(`not a NATS user credentials file: ${(e as Error).message}`);
  }
  for (const subject of allow) {
    const m = /^(_INBOX_[A-Za-z0-9_-]+)\.>$/.exec(subject);
    if (m) return m[1]!;
  }
  return null;
}

/**
 * Subject-token encoding. A NATS subject token must not contain '.', '*', '>' or whitespace, and
 * must not be empty; ids that end up in subjects (workflow ids, run ids, queues, code versions)
 * are user-chosen, so they are encoded before use.
 *
 * Rule (injective and reversible, identity for the usual ids):
 * - `A-Z a-z 0-9 _ -` are kept as they are;
 * - every other character is replaced by `~` followed by the two upper-case hex digits of each
 *   of its UTF-8 bytes (so `~` itself becomes `~7E`, `.` becomes `~2E`, `é` becomes `~C3~A9`);
 * - the empty string is not encodable (a subject token cannot be empty).
 *
 * Event types use a separate, readable rule (see {@link eventTypeToken}).
 */
import { ProtocolError } from "./protocol-error.js";

const SAFE = /^[A-Za-z0-9_-]$/;
const ENCODED = /^(?:[A-Za-z0-9_-]|~[0-9A-F]{2})+$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes an arbitrary non-empty string as one safe subject token. */
export function encodeToken(value: string, field = "token"): string {
  if (value.length === 0) throw new ProtocolError(`${field} cannot be empty`, [{ path: field, message: "must not be empty" }]);
  let out = "";
  for (const ch of value) {
    if (SAFE.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of encoder.encode(ch)) out += `~${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Inverse of {@link encodeToken}; rejects text that no encoding could have produced. */
export function decodeToken(token: string, field = "token"): string {
  if (!ENCODED.test(token)) {
    throw new ProtocolError(`${field} "${token}" is not an encoded subject token`, [
      { path: field, message: "not an encoded subject token" },
    ]);
  }
  const bytes: number[] = [];
  for (let i = 0; i < token.length;) {
    if (token[i] === "~") {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      bytes.push(token.charCodeAt(i));
      i += 1;
    }
  }
  try {
    return decoder.decode(new Uint8Array(bytes));
  } catch (err) {
    throw new ProtocolError(`${field} "${token}" does not decode to UTF-8: ${(err as Error).message}`, [
      { path: field, message: "escapes are not valid UTF-8" },
    ]);
  }
}

/** True when `token` is usable as-is in a subject (one token, no wildcard, no whitespace). */
export function isSafeToken(token: string): boolean {
  return /^[A-Za-z0-9_-]+$/.test(token);
}

/**
 * Event type → subject token: `:` becomes `_` (`workflow:completed` → `workflow_completed`), then
 * the result goes through {@link encodeToken}. Kernel event types contain no `_`, so the mapping
 * is reversible with {@link eventTypeFromToken}; subscribers can filter on readable names.
 */
export function eventTypeToken(type: string): string {
  return encodeToken(type.replaceAll(":", "_"), "type");
}

/** Inverse of {@link eventTypeToken}. */
export function eventTypeFromToken(token: string): string {
  return decodeToken(token, "type").replaceAll("_", ":");
}

/**
 * Job priority → subject token: `default` for 0, `p<n>` for positive, `m<n>` for negative
 * priorities (`5` → `p5`, `-3` → `m3`). Its band (priority.ts) chooses the consumer; the exact
 * number is informative on the subject (observability).
 */
export function priorityToken(priority: number | undefined): string {
  if (priority === undefined || priority === 0) return "default";
  if (!Number.isInteger(priority)) {
    throw new ProtocolError(`priority must be an integer, got ${priority}`, [{ path: "priority", message: "must be an integer" }]);
  }
  return priority > 0 ? `p${priority}` : `m${-priority}`;
}

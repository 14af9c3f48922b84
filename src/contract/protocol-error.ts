/**
 * The one error the wire-protocol module throws or returns. Shaped like the kernel's
 * `ValidationError` (code "VALIDATION", `issues` naming each field) without importing it, so the
 * worker SDK can use this module with zod alone.
 */

import type { ValidationIssue } from "./validation.js";

/** One field that failed: dotted path and why. */
export type ProtocolIssue = ValidationIssue;

/** A message, header or subject that does not follow the jetflow wire protocol. */
export class ProtocolError extends Error {
  readonly code = "VALIDATION" as const;
  constructor(
    message: string,
    readonly issues: ProtocolIssue[],
  ) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** Outcome of a parse helper: the typed value, or an error naming every bad field. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: ProtocolError };

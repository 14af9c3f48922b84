/**
 * The one validation-error shape of jetflow, on both sides of the wire: a list of
 * `{ path, message }` issues and one way to turn zod's issues into it and into a message.
 * API error replies, ProtocolError, ValidationError and the worker's TaskValidationError all
 * carry exactly this shape.
 */
import type { z } from "zod";

/** One field that failed validation: where (dotted path, "" for the root) and why. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** Zod's issues as dotted paths, each under `prefix` when given ("input.email: Invalid email"). */
export function issuesFromZod(error: z.ZodError, prefix = ""): ValidationIssue[] {
  return error.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter((p) => p !== "").join("."),
    message: i.message,
  }));
}

/** `what: a.b: message; c: message` — the message every validation error carries. */
export function formatIssues(
  what: string,
  issues: readonly ValidationIssue[],
  render: (path: string) => string = (p) => p || "(root)",
): string {
  return `${what}: ${issues.map((i) => `${render(i.path)}: ${i.message}`).join("; ")}`;
}

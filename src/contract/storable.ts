/**
 * Limits of what the store can hold, as zod building blocks for every boundary schema. Postgres
 * cannot store U+0000 in `text` or `jsonb`, rejects a lone UTF-16 surrogate in `jsonb`, and an
 * `integer` column holds int4 only; a value past these limits must be refused at the boundary as
 * a VALIDATION error naming the field, not reach the database as a 500.
 */
import { z } from "zod";

/** Bounds of a Postgres `integer` (int4) column. */
export const INT4_MIN = -2_147_483_648;
export const INT4_MAX = 2_147_483_647;

/** An integer that fits a Postgres `integer` column. */
export const int4 = (): z.ZodNumber => z.number().int().min(INT4_MIN).max(INT4_MAX);

const NUL = /\u0000/;
// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why `s` cannot be stored, or null when it can. */
export function unstorableReason(s: string): string | null {
  if (NUL.test(s)) return "contains U+0000 (NUL), which the store cannot hold";
  if (LONE_SURROGATE.test(s)) return "contains a lone UTF-16 surrogate (not valid Unicode), which the store cannot hold";
  return null;
}

/** The first string (value or object key) in a JSON-like value that cannot be stored. */
export interface UnstorableValue {
  path: (string | number)[];
  reason: string;
}

const MAX_DEPTH = 1_000;

/** Walks `value` (strings, arrays, plain objects; keys too) for a string the store cannot hold. */
export function findUnstorable(value: unknown, path: (string | number)[] = []): UnstorableValue | null {
  if (typeof value === "string") {
    const reason = unstorableReason(value);
    return reason ? { path, reason } : null;
  }
  if (value === null || typeof value !== "object") return null;
  if (path.length > MAX_DEPTH) return { path, reason: `is nested deeper than ${MAX_DEPTH} levels` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorable(value[i], [...path, i]);
      if (found) return found;
    }
    return null;
  }
  for (const [k, v] of Object.entries(value)) {
    const keyReason = unstorableReason(k);
    if (keyReason) return { path: [...path, k], reason: `key ${keyReason}` };
    const found = findUnstorable(v, [...path, k]);
    if (found) return found;
  }
  return null;
}

/** `path` as a dotted field name under `prefix` ("output.items.3.name"). */
export function fieldName(prefix: string, path: readonly (string | number)[]): string {
  return [prefix, ...path.map(String)].filter((p) => p !== "").join(".");
}

/** zod check: refuses any string inside the value that the store cannot hold, naming its path. */
export function refineStorable(value: unknown, ctx: z.RefinementCtx): void {
  const found = findUnstorable(value);
  if (found) ctx.addIssue({ code: "custom", path: found.path, message: found.reason });
}

/** A JSON value (any shape) whose strings the store can hold. */
export const storableJson = (): z.ZodType<unknown> => z.unknown().superRefine(refineStorable);

/** A string of at most `max` characters that the store can hold. */
export const storableText = (max: number): z.ZodString =>
  z
    .string()
    .max(max)
    .refine((s) => unstorableReason(s) === null, { error: (iss) => unstorableReason(String(iss.input)) ?? "cannot be stored" });

/**
 * An identifier: 1..max printable characters, no control characters (ids travel in subjects,
 * headers and log lines) and nothing the store cannot hold.
 */
export const identifier = (max: number): z.ZodString =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => !CONTROL.test(s), { error: "must not contain control characters (CR, LF, NUL, ...)" })
    .refine((s) => !LONE_SURROGATE.test(s), { error: "contains a lone UTF-16 surrogate (not valid Unicode)" });

/** Replaces every character the store cannot hold with U+FFFD (for audit copies of refused data). */
export function toStorable(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return value.replace(/\u0000/g, "\uFFFD").replace(new RegExp(LONE_SURROGATE.source, "g"), "\uFFFD");
  if (value === null || typeof value !== "object" || depth > MAX_DEPTH) return depth > MAX_DEPTH ? null : value;
  if (Array.isArray(value)) return value.map((v) => toStorable(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [toStorable(k, depth + 1) as string, toStorable(v, depth + 1)]));
}

/**
 * The one way a jetflow component takes options: a strict zod object whose defaults come from
 * one literal of named constants, parsed once at construction. Strict, because a misspelt
 * option (`leaseMS`) that silently falls back to its default is a bug found in production;
 * every failure is a ValidationError naming each bad field, formatted like every other
 * validation error (see ./validation.ts).
 */
import { z } from "zod";
import { ValidationError } from "./errors.js";
import { issuesFromZod } from "./validation.js";

/** A duration or size in whole non-negative units (ms, bytes). */
export const nonNegativeInt = z.number().int().nonnegative();
/** A count or duration that must be at least 1. */
export const positiveInt = z.number().int().positive();

/**
 * A value zod cannot describe (a client, a logger, a store): accepted as is when it is an
 * object with the named methods, so strictness still applies to the keys around it.
 */
export function withMethods<T>(kind: string, ...methods: string[]): z.ZodType<T> {
  return z.custom<T>(
    (v) => typeof v === "object" && v !== null && methods.every((m) => typeof (v as Record<string, unknown>)[m] === "function"),
    { message: `must be ${kind}${methods.length > 0 ? ` (with ${methods.join(", ")})` : ""}` },
  );
}

/** A callback option. */
export function callback<T extends (...args: never[]) => unknown>(): z.ZodType<T> {
  return z.custom<T>((v) => typeof v === "function", { message: "must be a function" });
}

/**
 * Parses `input` with the strict form of `schema` (undefined fields mean "use the default")
 * and returns it with every default applied.
 * @throws ValidationError `invalid <what> options: <path>: <message>; …`, naming unknown keys too.
 */
export function parseOptions<S extends z.ZodObject<z.ZodRawShape>>(what: string, schema: S, input: unknown): z.output<S> {
  const fail = (issues: { path: string; message: string }[]) => new ValidationError(`invalid ${what} options`, issues);
  const given: unknown = input ?? {};
  if (typeof given !== "object" || given === null || Array.isArray(given)) throw fail([{ path: "", message: "must be an object" }]);
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  const r = schema.strict().safeParse(defined);
  if (!r.success) throw fail(issuesFromZod(r.error));
  return r.data as z.output<S>;
}

import { InvalidArgumentError } from "commander";
import { z } from "zod";
import { formatIssues, issuesFromZod } from "../../src/contract/validation.js";

/** Validates raw commander options with zod; a failure names each bad flag. */
export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    // commander prefixes "error: option invalid:"; the issues read as the flags the user typed.
    throw new InvalidArgumentError(formatIssues("invalid options", issuesFromZod(parsed.error), (p) => `--${kebab(p) || "?"}`));
  }
  return parsed.data;
}

/** commander's camelCase option key back to the flag the user typed: databaseUrl → database-url. */
function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Parses `--input '{...}'` or `--input @file.json`. */
export async function readJsonArgument(value: string, what: string): Promise<unknown> {
  let text = value;
  if (value.startsWith("@")) {
    const { readFile } = await import("node:fs/promises");
    text = await readFile(value.slice(1), "utf8");
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

import { InvalidArgumentError } from "commander";
import { z } from "zod";

/** Validates raw commander options with zod; a failure names each bad flag. */
export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `--${i.path.join(".") || "?"}: ${i.message}`).join("; ");
    throw new InvalidArgumentError(detail);
  }
  return parsed.data;
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


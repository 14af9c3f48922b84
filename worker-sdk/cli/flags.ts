/**
 * Command-line flags of the worker processes (`jetflow-worker`, `jetflow worker`,
 * `jetflow-worker-service`, `jetflow worker-service serve`): one table per command drives
 * node's `parseArgs`, the help text and the zod schema that validates the values, so the same
 * flags behave the same from the worker package and from the full jetflow CLI.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { formatIssues, issuesFromZod } from "../../src/contract/validation.js";
import { WorkerError } from "../errors.js";

/** One flag: kebab-case name, optional one-letter alias, whether it takes a value, help text. */
export interface FlagSpec {
  name: string;
  short?: string;
  /** `boolean` flags take no value; `--no-<name>` turns a default-on boolean off. */
  type: "string" | "boolean";
  help: string;
  /** Environment variable read when the flag is absent. */
  env?: string;
}

const camel = (kebab: string): string => kebab.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Renders `usage` and the flag table as `--help` prints it. */
export function helpText(usage: string, flags: readonly FlagSpec[]): string {
  const rows = flags.map(
    (f) =>
      [
        `${f.short ? `-${f.short}, ` : "    "}--${f.name}${f.type === "string" ? " <value>" : ""}`,
        `${f.help}${f.env ? ` (env ${f.env})` : ""}`,
      ] as const,
  );
  const width = Math.max(...rows.map((r) => r[0].length));
  return `Usage: ${usage}\n\nOptions:\n${rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`).join("\n")}\n  ${"-h, --help".padEnd(width)}  print this help\n`;
}

/** The result of reading argv: the validated options, or a request for help. */
export type ParsedFlags<T> = { help: true } | { help: false; options: T };

/**
 * Reads `argv` (arguments after the command name) against `flags`, fills absent flags from
 * their env variable, and validates with `schema`. Unknown flags and bad values are refused
 * with a WorkerConfigError naming each flag (`--heartbeat-ms: expected number`). `prepare`
 * may add values the flags did not give (a config file's) before validation.
 */
export function parseFlags<S extends z.ZodType>(
  argv: readonly string[],
  flags: readonly FlagSpec[],
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
  prepare: (raw: Record<string, unknown>) => Record<string, unknown> = (raw) => raw,
): ParsedFlags<z.output<S>> {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = { help: { type: "boolean", short: "h" } };
  for (const f of flags) {
    options[f.name] = { type: f.type, ...(f.short ? { short: f.short } : {}) };
    if (f.type === "boolean") options[`no-${f.name}`] = { type: "boolean" };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new WorkerError("CONFIG", (err as Error).message, false);
  }
  if (values.help) return { help: true };
  const raw: Record<string, unknown> = {};
  for (const f of flags) {
    let v: unknown = values[f.name];
    if (f.type === "boolean" && values[`no-${f.name}`]) v = false;
    if (v === undefined && f.env && env[f.env]) v = env[f.env];
    if (v !== undefined) raw[camel(f.name)] = v;
  }
  const parsed = schema.safeParse(prepare(raw));
  if (!parsed.success) {
    const kebab = (path: string) => `--${path.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`) || "?"}`;
    throw new WorkerError("CONFIG", formatIssues("invalid flags", issuesFromZod(parsed.error), kebab), false);
  }
  return { help: false, options: parsed.data };
}

/** `k=v,k2=v2` → record; every pair needs a non-empty key and a value. */
export const Labels = z
  .string()
  .transform((s, ctx) => {
    const out: Record<string, string> = {};
    for (const pair of s
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean)) {
      const eq = pair.indexOf("=");
      if (eq <= 0) {
        ctx.addIssue({ code: "custom", message: `"${pair}" is not key=value` });
        return z.NEVER;
      }
      out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
    return out;
  })
  .default({});

import { ValidationError } from "../../src/contract/errors.js";
import { SCHEMA_NAME } from "./options.js";

const SCHEMA_RE = SCHEMA_NAME;

/** Validates a schema name and returns it double-quoted for SQL text. */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_RE.test(schema)) {
    throw new ValidationError("postgres schema name", [
      { path: "schema", message: `"${schema}" must match ${SCHEMA_RE} (letters, digits, underscore)` },
    ]);
  }
  return `"${schema}"`;
}

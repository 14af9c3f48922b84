import { ValidationError } from "../../src/contract/errors.js";

/** Schema names are spliced into SQL text, so only plain identifiers are accepted. */
const SCHEMA_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Validates a schema name and returns it double-quoted for SQL text. */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_RE.test(schema)) {
    throw new ValidationError("postgres schema name", [
      { path: "schema", message: `"${schema}" must match ${SCHEMA_RE} (letters, digits, underscore)` },
    ]);
  }
  return `"${schema}"`;
}

// Writes docs/schemas/<name>.json from the zod contract (src/contract/json-schemas.ts).
// Run with `npm run schemas` after changing a wire message; test/contract/json-schemas.test.ts
// fails while the checked-in files differ from the contract.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { WIRE_SCHEMAS, jsonSchemaText } from "../src/contract/json-schemas.js";

const dir = join(import.meta.dirname, "..", "docs", "schemas");
mkdirSync(dir, { recursive: true });
for (const f of readdirSync(dir)) if (f.endsWith(".json")) rmSync(join(dir, f));
for (const name of Object.keys(WIRE_SCHEMAS)) writeFileSync(join(dir, `${name}.json`), jsonSchemaText(name));
console.log(`wrote ${Object.keys(WIRE_SCHEMAS).length} schemas to ${dir}`);

/**
 * docs/schemas/*.json are what another language's worker or client is written against: they must
 * be exactly what the zod contract generates, every wire message must have one, and they must
 * accept real messages and refuse broken ones.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { WIRE_SCHEMAS, jsonSchemaText } from "../../src/contract/json-schemas.js";

const dir = join(import.meta.dirname, "..", "..", "docs", "schemas");

test("every checked-in schema matches the contract (run `npm run schemas` after changing a message)", () => {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort();
  assert.equal(
    files,
    Object.keys(WIRE_SCHEMAS)
      .map((n) => `${n}.json`)
      .sort(),
    "one file per wire message, no stale ones",
  );
  for (const name of Object.keys(WIRE_SCHEMAS)) {
    assert.fixture(readFileSync(join(dir, `${name}.json`), "utf8"), jsonSchemaText(name), `${name}.json is stale`);
  }
});

test("the task schemas carry the rules a worker must follow", () => {
  const start = JSON.parse(readFileSync(join(dir, "start-request.json"), "utf8")) as {
    required: string[];
    properties: Record<string, unknown>;
  };
  assert.equal([...start.required].sort(), ["attempt", "codeVersion", "start", "taskId", "workerId"]);
  assert.ok("capability" in start.properties);
  assert.not.ok("leaseToken" in start.properties, "a worker never chooses its lease token");
  const reply = JSON.parse(readFileSync(join(dir, "heartbeat-reply.json"), "utf8")) as { properties: Record<string, unknown> };
  assert.ok("leaseToken" in reply.properties && "retryAfterMs" in reply.properties);
});

test.run();

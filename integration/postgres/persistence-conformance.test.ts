// The shared Persistence conformance suite, unchanged, against createPostgresPersistence: each
// case gets its own freshly migrated schema in this file's own database.
import { test } from "uvu";
import { services } from "../harness/index.js";
import { persistenceConformance } from "../../src/testing/index.js";
import { createPostgresPersistence } from "../../adapters/postgres/persistence.js";
import { client, schemaSupply } from "./helpers.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
const sql = svc ? client(svc.postgres.url) : null;
const freshSchema = sql ? schemaSupply(sql) : null;

const cases = persistenceConformance(async () => {
  const { schema, drop } = await freshSchema!();
  const persistence = createPostgresPersistence(sql!, { schema });
  return { persistence, cleanup: drop };
});
for (const c of cases) t(c.name, c.run);

test.after(async () => {
  await sql?.end({ timeout: 5 });
  await svc?.stop();
});
test.run();

// The shared ActivityTaskStore conformance suite, unchanged, against the Postgres store.
import { test } from "uvu";
import { services } from "../harness/index.js";
import { activityTaskStoreConformance } from "../../src/testing/conformance/activity-task-store.js";
import { createPostgresActivityTaskStore } from "../../adapters/postgres/activity-task-store.js";
import { client, schemaSupply } from "./helpers.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
const sql = svc ? client(svc.postgres.url) : null;
const freshSchema = sql ? schemaSupply(sql) : null;

const cases = activityTaskStoreConformance(async () => {
  const { schema, drop } = await freshSchema!();
  return { store: createPostgresActivityTaskStore(sql!, { schema }), cleanup: drop };
});
for (const c of cases) t(c.name, c.run);

test.after(async () => {
  await sql?.end({ timeout: 5 });
  await svc?.stop();
});
test.run();

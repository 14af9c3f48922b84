// The shared JobTransport conformance suite, unchanged, against the Postgres job transport.
import { test } from "uvu";
import { services } from "../harness/index.js";
import { jobTransportConformance } from "../../src/testing/conformance/job-transport.js";
import { createPostgresJobTransport } from "../../adapters/postgres/job-transport.js";
import { client, schemaSupply } from "./helpers.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
const sql = svc ? client(svc.postgres.url) : null;
const freshSchema = sql ? schemaSupply(sql) : null;

const cases = jobTransportConformance(async ({ leaseMs, maxDeliveries }) => {
  const { schema, drop } = await freshSchema!();
  const transport = createPostgresJobTransport(sql!, { schema, leaseMs, maxDeliveries });
  return {
    transport,
    cleanup: async () => {
      await transport.close();
      await drop();
    },
  };
});
for (const c of cases) t(c.name, c.run);

test.after(async () => {
  await sql?.end({ timeout: 5 });
  await svc?.stop();
});
test.run();

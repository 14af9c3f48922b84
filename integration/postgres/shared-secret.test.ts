// Secrets orchestrators on one database must agree on (the multipart upload-ticket key): racing
// first callers all end up with one value, later callers read it, and another schema (another
// deployment) has its own.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { migrate } from "../../adapters/postgres/migrate.js";
import { sharedSecret } from "../../adapters/postgres/shared-secret.js";
import { client, freshSchema } from "./helpers.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
const sql = svc ? client(svc.postgres.url) : null;

test.after(async () => {
  await sql?.end();
  await svc?.stop();
});

t("callers racing to create a shared secret all get the one value stored first; later callers read it", async () => {
  const schema = freshSchema();
  await migrate(sql!, { schema });
  const values = await Promise.all(Array.from({ length: 12 }, (_, i) => sharedSecret(sql!, schema, "k", () => `candidate-${i}`)));
  assert.is(new Set(values).size, 1, `one value for all: ${values.join(", ")}`);
  assert.match(values[0]!, /^candidate-\d+$/);
  assert.is(await sharedSecret(sql!, schema, "k", () => "too-late"), values[0]);
  assert.is(await sharedSecret(sql!, schema, "other", () => "second-secret"), "second-secret", "each name is its own secret");
});

t("another schema (another deployment on the same server) has its own secret", async () => {
  const [a, b] = [freshSchema(), freshSchema()];
  await migrate(sql!, { schema: a });
  await migrate(sql!, { schema: b });
  assert.is(await sharedSecret(sql!, a, "k", () => "secret-a"), "secret-a");
  assert.is(await sharedSecret(sql!, b, "k", () => "secret-b"), "secret-b");
});

test.run();

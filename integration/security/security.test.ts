// test-file-timeout-ms: 240000
// Acceptance suite of the worker trust boundary (issue 12, docs/security.md "What a stolen worker
// credential can and cannot do"): ONE credential from `jetflow creds issue` (queue a, version v1)
// against nats-server in operator mode from `jetflow creds init`, a real orchestrator with Postgres
// and S3. Every operation of the table must be refused, and afterwards Postgres, every stream and
// the registry must be as before; legitimate work on the same deployment then completes.
// shipped-config.test.ts runs the same table against the shipped nats-server.conf.
import { test } from "uvu";
import { startSecurityEnv } from "./env.js";
import { runAcceptance } from "./acceptance.js";

const env = await startSecurityEnv("creds", "integration/security/security");
const t = env ? test : test.skip;
test.after(async () => {
  await env?.close();
});

t("a `jetflow creds issue` worker credential: every forbidden operation is refused and changes nothing", async () => {
  await runAcceptance(env!);
});

test.run();

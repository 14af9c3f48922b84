// test-file-timeout-ms: 240000
// The security acceptance table (see security.test.ts) against the repository's nats-server.conf as
// shipped (two accounts, password users): the attacker holds the `worker-default` credential (queue
// `default`, version v1); credential operations are the static config's (wrong passwords, none).
import { test } from "uvu";
import { startSecurityEnv } from "./env.js";
import { runAcceptance } from "./acceptance.js";

const env = await startSecurityEnv("static", "integration/security/shipped-config");
const t = env ? test : test.skip;
test.after(async () => {
  await env?.close();
});

t("the shipped nats-server.conf's worker user: every forbidden operation is refused and changes nothing", async () => {
  await runAcceptance(env!);
});

test.run();

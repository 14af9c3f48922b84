// Cutting a worker credential off: `jetflow creds revoke` pushes the WORKERS account with the user in its
// revocations to the running server (full resolver, $SYS.REQ.CLAIMS.UPDATE); the server closes the
// worker's connection and refuses it from then on. Tampered and expired credentials never connect.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { connect, credsAuthenticator, nanos, type NatsConnection } from "@nats-io/transport-node";
import { revokeWorkerCreds } from "../../adapters/jetstream/auth/revoke.js";
import { taskConsumerName } from "../../adapters/jetstream/remote/index.js";
import { jetflow, startCredsEnv, type CredsEnv } from "./creds-env.js";

const env: CredsEnv | null = await startCredsEnv("integration/fleet/creds-revoke", [["a", "v1"]]);
const t = env ? test : test.skip;
const LIMIT_MS = 5_000;

test.after(async () => {
  await env?.close();
});

/** Resolves with the time (performance.now()) the connection is first disconnected or closed. */
function disconnectedAt(nc: NatsConnection, boundMs: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const bound = setTimeout(() => reject(new Error(`${what}: still connected after ${boundMs} ms`)), boundMs);
    const done = () => {
      clearTimeout(bound);
      resolve(performance.now());
    };
    void nc.closed().then(done);
    void (async () => {
      for await (const s of nc.status()) if (s.type === "disconnect") return done();
    })();
  });
}

/** A pull of queue a; resolves with the server's answer (a status or a task) or rejects. */
const pull = (nc: NatsConnection) =>
  nc.request(
    `$JS.API.CONSUMER.MSG.NEXT.${env!.topology.streams.tasks}.${taskConsumerName("a", "v1")}`,
    JSON.stringify({ batch: 1, expires: nanos(200) }),
    {
      timeout: 5_000,
      noMux: true,
    },
  );

const refused = async (file: string) =>
  env!.connectWith(file, { reconnect: false }).then(
    async (nc) => {
      await nc.close();
      return "connected";
    },
    (e: Error) => e.message,
  );

t(`revoke (by name) disconnects a connected worker within ${LIMIT_MS} ms; it cannot reconnect; others keep working`, async () => {
  const victim = env!.issue({ queue: "a", codeVersion: "v1", workerId: "rev1" });
  const bystander = env!.issue({ queue: "a", codeVersion: "v1", workerId: "ok1" });
  const nc = await env!.connectWith(victim.file);
  const other = await env!.connectWith(bystander.file);
  await pull(nc); // works before the revoke
  const gone = disconnectedAt(nc, 15_000, "the revoked worker");
  const t0 = performance.now();
  const r = await revokeWorkerCreds(env!.dir, victim.name, { servers: env!.nats.url });
  const answered = performance.now();
  const ms = (await gone) - t0;
  console.log(`revoke → disconnect: ${ms.toFixed(0)} ms (server answered the account update after ${(answered - t0).toFixed(0)} ms)`);
  assert.ok(ms < LIMIT_MS, `disconnected after ${ms} ms`);
  assert.is(r.publicKey, victim.publicKey);
  assert.match(await refused(victim.file), /authorization violation|revoked/i, "the revoked credential cannot connect again");
  await pull(other); // the bystander's connection and permissions are untouched
  assert.ok(!other.isClosed());
  const listed = JSON.parse(jetflow("creds", "list", "--dir", env!.dir, "--json")) as { name: string; revokedAt: string | null }[];
  assert.ok(listed.find((c) => c.name === victim.name)?.revokedAt, "creds list shows it revoked");
  assert.is(listed.find((c) => c.name === bystander.name)?.revokedAt, null);
});

t("the CLI revokes by user public key and pushes with --servers", async () => {
  const victim = env!.issue({ queue: "a", codeVersion: "v1", workerId: "rev2" });
  const nc = await env!.connectWith(victim.file);
  const gone = disconnectedAt(nc, 60_000, "the worker revoked through the CLI");
  const t0 = performance.now();
  const out = jetflow("creds", "revoke", victim.publicKey, "--dir", env!.dir, "--servers", env!.nats.url);
  assert.match(out, /pushed to/);
  console.log(`CLI revoke (process start included) → disconnect: ${((await gone) - t0).toFixed(0)} ms`);
  assert.match(await refused(victim.file), /authorization violation|revoked/i);
});

t("a tampered credential (permissions widened in the JWT) cannot connect", async () => {
  const { file } = env!.issue({ queue: "a", codeVersion: "v1", workerId: "tamper" });
  const text = readFileSync(file, "utf8");
  const jwt = /-----BEGIN NATS USER JWT-----\n(.+)\n/.exec(text)![1]!;
  const [h, p, s] = jwt.split(".");
  const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
  claims.nats.pub = { allow: [">"] };
  const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
  writeFileSync(file, text.replace(jwt, forged));
  // Straight to the server (the SDK's own creds parsing would already reject the signature).
  const err = await connect({
    servers: env!.nats.url,
    authenticator: credsAuthenticator(readFileSync(file)),
    inboxPrefix: "_INBOX_x",
    reconnect: false,
  }).then(
    async (nc) => {
      await nc.close();
      return "connected";
    },
    (e: Error) => e.message,
  );
  assert.match(err, /authorization violation/i);
});

t("an expired credential cannot connect; a connection is dropped when its credential expires", async () => {
  const { file } = env!.issue({ queue: "a", codeVersion: "v1", workerId: "short", expires: "3s" });
  const exp = JSON.parse(
    Buffer.from(/-----BEGIN NATS USER JWT-----\n(.+)\n/.exec(readFileSync(file, "utf8"))![1]!.split(".")[1]!, "base64url").toString(),
  ).exp;
  const nc = await env!.connectWith(file);
  const gone = await disconnectedAt(nc, 20_000, "the connection of the expiring credential");
  const lateMs = performance.timeOrigin + gone - exp * 1000;
  console.log(`expiry → disconnect: ${lateMs.toFixed(0)} ms`);
  assert.ok(lateMs > -1_000, "not dropped before the expiry");
  // The server compares whole seconds: ask again only once the expiry has surely passed.
  const wait = exp * 1000 + 1_100 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  assert.match(await refused(file), /authorization violation|expired/i);
});

test.run();

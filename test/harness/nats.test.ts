/**
 * The NATS half of the harness, exercised through its public API the way integration tests
 * use it: local servers are real, private, configurable, and really die on stop().
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { findNatsServerBinary, portRefuses, useNats, type NatsService } from "../../integration/harness/index.js";

// These tests are about the local-process strategy: make sure neither an env URL nor a
// container engine (on a developer laptop) takes precedence.
delete process.env.JETFLOW_TEST_NATS_URL;
process.env.JETFLOW_TEST_NO_CONTAINERS = "1";

const haveBinary = findNatsServerBinary().bin !== undefined;
const t = haveBinary ? test : test.skip;
if (!haveBinary) process.stderr.write("SKIPPING test/harness/nats.test.ts: no nats-server binary (apt-get install -y nats-server)\n");

const started: NatsService[] = [];
async function nats(opts?: Parameters<typeof useNats>[0]): Promise<NatsService> {
  const s = await useNats(opts);
  started.push(s);
  return s;
}
const portOf = (url: string): number => Number(new URL(url).port);

t("without JETFLOW_TEST_NATS_URL a local server answers NATS and JetStream", async () => {
  const s = await nats();
  assert.is(s.source, "local");
  assert.match(s.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  const nc = await connect({ servers: s.url, reconnect: false });
  try {
    const info = await (await jetstreamManager(nc)).getAccountInfo();
    assert.is(info.streams, 0, "a brand-new server has no streams");
  } finally {
    await nc.close();
  }
});

t("two useNats() calls give two servers that do not share streams", async () => {
  const [a, b] = await Promise.all([nats(), nats()]);
  assert.is.not(a.url, b.url);
  const nca = await connect({ servers: a.url, reconnect: false });
  const ncb = await connect({ servers: b.url, reconnect: false });
  try {
    await (await jetstreamManager(nca)).streams.add({ name: "ONLY_ON_A", subjects: ["only.a"] });
    const names = await (await jetstreamManager(ncb)).streams.names().next();
    assert.equal(names, [], "server b must not see server a's stream");
  } finally {
    await nca.close();
    await ncb.close();
  }
});

t("config text is applied: with a user/password an anonymous connect is rejected", async () => {
  const s = await nats({ config: "authorization { user: alice, password: s3cret }" });
  let rejected: unknown;
  try {
    const nc = await connect({ servers: s.url, reconnect: false, timeout: 2000 });
    await nc.close();
  } catch (err) {
    rejected = err;
  }
  assert.ok(rejected, "anonymous connect must fail");
  assert.match(String(rejected), /authorization/i);
  const nc = await connect({ servers: s.url, user: "alice", pass: "s3cret", reconnect: false });
  await nc.close();
});

t("jetstream: false starts a server without JetStream", async () => {
  const s = await nats({ jetstream: false });
  const nc = await connect({ servers: s.url, reconnect: false });
  try {
    let failed = false;
    try {
      await (await jetstreamManager(nc, { timeout: 1000 })).getAccountInfo();
    } catch (err) {
      failed = true;
      assert.match(String(err), /jetstream|503|no responders|timeout/i);
    }
    assert.ok(failed, "JetStream must not answer");
  } finally {
    await nc.close();
  }
});

t("stop() kills the server: its port refuses connections afterwards, and stop() is idempotent", async () => {
  const s = await nats();
  const port = portOf(s.url);
  assert.ok(!(await portRefuses("127.0.0.1", port)), "running before stop");
  await s.stop();
  assert.ok(await portRefuses("127.0.0.1", port), "port must refuse after stop()");
  await s.stop();
});

t("restart() brings the server back on the same port with its JetStream store", async () => {
  const s = await nats();
  const nc = await connect({ servers: s.url, reconnect: false });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "SURVIVES", subjects: ["survives.>"] });
  await nc.close();
  await s.restart!();
  const nc2 = await connect({ servers: s.url, reconnect: false });
  try {
    const info = await (await jetstreamManager(nc2)).streams.info("SURVIVES");
    assert.is(info.config.name, "SURVIVES");
  } finally {
    await nc2.close();
  }
});

t("a config the server rejects is an error with the server's log, not a skip", async () => {
  try {
    await nats({ config: "this is { not valid" });
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.is((err as Error).name, "Error");
    assert.match((err as Error).message, /nats-server log/);
  }
});

t("JETFLOW_TEST_NATS_URL wins when set; its stop() leaves that server alone", async () => {
  const real = await nats();
  process.env.JETFLOW_TEST_NATS_URL = real.url;
  try {
    const viaEnv = await useNats();
    assert.is(viaEnv.source, "env");
    assert.is(viaEnv.url, real.url);
    await viaEnv.stop();
    assert.ok(!(await portRefuses("127.0.0.1", portOf(real.url))), "env server must survive stop()");
    const dedicated = await nats({ config: "max_payload: 65536" });
    assert.is(dedicated.source, "local", "a config forces a dedicated server even with the env URL set");
    assert.is.not(dedicated.url, real.url);
  } finally {
    delete process.env.JETFLOW_TEST_NATS_URL;
  }
});

test.after(async () => {
  await Promise.all(started.map((s) => s.stop()));
});
test.run();

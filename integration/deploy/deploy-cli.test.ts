// `jetflow deploy`, `deploy list` and `deploy rollback` as a user runs them, on a real nats-server:
// a version is immutable (the same bytes again succeed, other bytes are refused), list shows every
// version with its hash, size and signer and marks the current one, rollback moves "current".
import { readFile } from "node:fs/promises";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { currentVersion, listBundles, openDeployStore, rollbackTo } from "../../adapters/jetstream/deploy/bundle-store.js";
import { deploy, deployInProcess, jetflow, signingKey } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const QUEUE = "clique";
const cleanups: (() => Promise<unknown>)[] = [];

test.after.each(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
test.after(async () => {
  await svc?.stop();
});

t("a version is immutable; list shows every version and the current one; rollback moves current", async () => {
  const url = svc!.nats.url;
  const { prefix } = freshTopology();
  const key = await signingKey();
  cleanups.push(() => key.close());
  const nc: NatsConnection = await connect({ servers: url });
  cleanups.push(() => nc.close());
  const target = { url, prefix, seedFile: key.seedFile };
  const conn = ["--servers", url, "--prefix", prefix];

  const first = await deploy(target, "activities-v1.ts", QUEUE, "v1");
  const sha = /sha256 ([0-9a-f]{64})/.exec(first.stdout)?.[1];
  assert.ok(sha, first.stdout);
  assert.match(first.stdout, new RegExp(`signer ${key.publicKey}`));
  // The operator's public key is base32 too and may hold "SO" anywhere inside it, so look for the
  // seed itself and for a whole seed-shaped word, not for any "SO…" run.
  const said = first.stdout + first.stderr;
  const seed = (await readFile(key.seedFile, "utf8")).trim();
  assert.not.ok(said.includes(seed.slice(2, 30)), "the seed is never printed");
  assert.not.match(said, /\bS[OAU][A-Z2-7]{56}\b/, "no seed-shaped word is printed");

  // The same bytes again (in process, to spare a CLI start-up): an idempotent success.
  const again = await deployInProcess(nc, target, "activities-v1.ts", QUEUE, "v1");
  assert.is(again.status, "unchanged");
  assert.is(again.record.sha256, sha);

  const changed = await deploy(target, "activities-v1-changed.ts", QUEUE, "v1", 1);
  assert.match(changed.stderr, /error CONFLICT: version v1 of queue clique is already deployed with other bytes/);
  assert.match(changed.stderr, /immutable/);
  const store = await openDeployStore(nc, { prefix, storage: "memory" });
  const [kept] = await listBundles(store, QUEUE);
  assert.is(kept?.sha256, sha, "v1 still holds the first bytes");

  await deployInProcess(nc, target, "activities-v2.ts", QUEUE, "v2");
  const listed = await jetflow(["deploy", "list", "--queue", QUEUE, "--json", ...conn]);
  assert.is(listed.code, 0, listed.stderr);
  const rows = JSON.parse(listed.stdout) as { version: string; current: boolean; sha256: string; size: number; signer: string }[];
  assert.equal(
    rows.map((r) => [r.version, r.current]),
    [
      ["v1", false],
      ["v2", true],
    ],
  );
  for (const r of rows) {
    assert.match(r.sha256, /^[0-9a-f]{64}$/);
    assert.ok(r.size > 0);
    assert.is(r.signer, key.publicKey);
  }

  const back = await jetflow(["deploy", "rollback", "--queue", QUEUE, "--to", "v1", ...conn]);
  assert.is(back.code, 0, back.stderr);
  assert.match(back.stdout, /current version of clique: v1 \(was v2\)/);
  assert.is((await currentVersion(store, QUEUE))?.version, "v1");
  assert.equal(
    (await listBundles(store)).map((r) => [r.version, r.current]),
    [
      ["v1", true],
      ["v2", false],
    ],
  );
  try {
    await rollbackTo(store, QUEUE, "v9");
    assert.unreachable("rollback to a version never deployed");
  } catch (err) {
    assert.match(String(err), /version v9 of queue clique was never deployed/);
  }
});

test.run();

// `jetflow worker --from-store` flags: split off the ordinary worker flags, validated with clear
// errors; --code-version optional (the queue's current version), --module refused.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createOperator } from "@nats-io/nkeys";
import { isFromStore, parseFromStoreArgs } from "../../worker-sdk/cli/from-store.js";

const pub = createOperator().getPublicKey();
const base = ["--from-store", "--queue", "video", "--trusted-keys", pub];

test("without --code-version the worker follows the queue's current version", () => {
  assert.ok(isFromStore(base));
  const r = parseFromStoreArgs(base, {});
  assert.ok(!r.help);
  if (r.help) return;
  assert.is(r.options.version, null);
  assert.is(r.options.worker.queue, "video");
  assert.equal(r.options.trustedKeys, [pub]);
  assert.match(r.options.bundleDir, /jetflow-bundles$/);
});

test("--code-version, --bundle-dir=, env trusted keys and ordinary worker flags pass through", () => {
  const r = parseFromStoreArgs(
    ["--from-store", "--queue", "video", "--code-version", "v3", "--bundle-dir=/srv/b", "--concurrency", "4", "--no-fleet"],
    { JETFLOW_TRUSTED_DEPLOY_KEYS: pub },
  );
  if (r.help) return assert.unreachable("help");
  assert.is(r.options.version, "v3");
  assert.is(r.options.worker.codeVersion, "v3");
  assert.is(r.options.bundleDir, "/srv/b");
  assert.is(r.options.worker.concurrency, 4);
  assert.is(r.options.worker.fleet, false);
});

test("refusals name the flag: no trusted key, a bad key, --module, a bad worker flag", () => {
  assert.throws(() => parseFromStoreArgs(["--from-store", "--queue", "video"], {}), /--trusted-keys: is required/);
  assert.throws(
    () => parseFromStoreArgs(["--from-store", "--queue", "video", "--trusted-keys", "UABC"], {}),
    /--trusted-keys: .*not an operator public key/,
  );
  assert.throws(() => parseFromStoreArgs([...base, "--module", "./a.js"], {}), /--module and --from-store exclude each other/);
  assert.throws(() => parseFromStoreArgs([...base, "--concurrency", "0"], {}), /--concurrency/);
  assert.throws(() => parseFromStoreArgs(["--from-store", "--trusted-keys", pub], {}), /--queue/);
});

test("--help asks for help", () => {
  assert.ok(parseFromStoreArgs(["--from-store", "--help"], {}).help);
});

test.run();

// Signing and verifying code bundles: a bundle verifies only for the queue and version it was
// signed as, only with a trusted signer, and only with the exact bytes and record it was signed with.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createAccount, createOperator } from "@nats-io/nkeys";
import { operatorKeyFromSeed, parseTrustedKeys, sha256Hex, signBundle, verifyBundle } from "../../worker-sdk/bundle-signature.js";
import { BundleRejectedError } from "../../worker-sdk/errors.js";

const operator = createOperator();
const seed = new TextDecoder().decode(operator.getSeed());
const key = operatorKeyFromSeed(`${seed}\n`);
const bytes = new TextEncoder().encode('export const stages = []; export const version = "v1";');
const record = signBundle(key, { queue: "video", version: "v1", bytes, signedAt: new Date("2026-01-02T03:04:05Z") });
const trusted = [operator.getPublicKey()];

function rejects(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, BundleRejectedError);
    assert.is((err as BundleRejectedError).code, "BUNDLE_REJECTED");
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a refusal matching ${pattern}`);
}

test("a signed bundle verifies with its bytes for its queue and version", () => {
  assert.is(record.signer, operator.getPublicKey());
  assert.is(record.sha256, sha256Hex(bytes));
  assert.is(record.size, bytes.byteLength);
  assert.equal(verifyBundle(bytes, JSON.parse(JSON.stringify(record)), { queue: "video", version: "v1", trusted }), record);
});

test("changed bytes are refused by hash (same size) or by size", () => {
  const same = bytes.slice();
  same[0] = same[0]! ^ 1;
  rejects(
    () => verifyBundle(same, record, { queue: "video", version: "v1", trusted }),
    /sha256 [0-9a-f]{64} does not match the signed .*tampered bundle/,
  );
  rejects(
    () => verifyBundle(bytes.slice(1), record, { queue: "video", version: "v1", trusted }),
    /has \d+ bytes, the signed record says \d+/,
  );
});

test("a record edited to match other bytes fails the signature", () => {
  const other = new TextEncoder().encode("export const stages = [evil];");
  const forged = { ...record, sha256: sha256Hex(other), size: other.byteLength };
  rejects(() => verifyBundle(other, forged, { queue: "video", version: "v1", trusted }), /signature does not match its record/);
});

test("a bundle is refused for another queue or version (no replay under another name)", () => {
  rejects(() => verifyBundle(bytes, record, { queue: "video", version: "v2", trusted }), /record is for video\/v1/);
  rejects(() => verifyBundle(bytes, { ...record, version: "v2" }, { queue: "video", version: "v2", trusted }), /signature does not match/);
});

test("an untrusted signer, or no trusted key at all, is refused", () => {
  const stranger = createOperator().getPublicKey();
  rejects(
    () => verifyBundle(bytes, record, { queue: "video", version: "v1", trusted: [stranger] }),
    /signed by O[A-Z0-9]+, which is not a trusted key/,
  );
  rejects(() => verifyBundle(bytes, record, { queue: "video", version: "v1", trusted: [] }), /no trusted signer keys configured/);
  rejects(() => verifyBundle(bytes, { queue: "video" }, { queue: "video", version: "v1", trusted }), /record is malformed/);
});

test("only operator seeds sign, and a bad seed is never echoed", () => {
  const accountSeed = new TextDecoder().decode(createAccount().getSeed());
  assert.throws(() => operatorKeyFromSeed(accountSeed), /must be an operator nkey seed/);
  try {
    operatorKeyFromSeed(`SO${"A".repeat(40)}`);
    assert.unreachable("a malformed seed");
  } catch (err) {
    assert.match((err as Error).message, /not a valid nkey seed/);
    assert.not.match((err as Error).message, /AAAAAAAA/);
  }
});

test("trusted keys parse from a comma or space separated list of operator public keys", () => {
  const a = createOperator().getPublicKey();
  const b = createOperator().getPublicKey();
  assert.equal(parseTrustedKeys(` ${a}, ${b}\n`), [a, b]);
  assert.throws(() => parseTrustedKeys(createAccount().getPublicKey()), /not an operator public key/);
  assert.throws(() => parseTrustedKeys("Onotakey"), /not an operator public key/);
});

test.run();

/**
 * Signing and verifying code bundles with an operator's Ed25519 nkey. Lives in the worker SDK
 * (NATS nkeys and node:crypto only) because a worker machine verifies every bundle before it
 * loads it; `jetflow deploy` signs with the same module so both sides agree on the payload.
 */
import { createHash } from "node:crypto";
import { fromPublic, fromSeed } from "@nats-io/nkeys";
import { BundleRecord, bundleSigningPayload } from "../src/contract/code-bundles.js";
import { BundleRejectedError } from "./errors.js";

/** Lower-case hex sha256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Parses an nkey seed (text such as the content of a `.nk` file; surrounding whitespace is
 * ignored). Only operator seeds (`SO…`) sign bundles: they are what `jetflow deploy keygen` and
 * `jetflow creds init` make. The seed never appears in an error message.
 * @throws Error when the text is not an operator seed.
 */
export function operatorKeyFromSeed(seedText: string): { publicKey: string; sign(data: Uint8Array): Uint8Array } {
  const seed = seedText.trim();
  if (!seed.startsWith("SO")) throw new Error("the signing key must be an operator nkey seed (starts with SO)");
  let kp;
  try {
    kp = fromSeed(new TextEncoder().encode(seed));
  } catch (err) {
    throw new Error(`the signing key is not a valid nkey seed (${(err as Error).message})`);
  }
  return { publicKey: kp.getPublicKey(), sign: (data) => kp.sign(data) };
}

/** Signs `bytes` as the bundle of (queue, version) at `signedAt`; returns its full record. */
export function signBundle(
  key: { publicKey: string; sign(data: Uint8Array): Uint8Array },
  o: { queue: string; version: string; bytes: Uint8Array; signedAt?: Date; entry?: string },
): BundleRecord {
  const base = {
    queue: o.queue,
    version: o.version,
    sha256: sha256Hex(o.bytes),
    size: o.bytes.byteLength,
    signedAt: (o.signedAt ?? new Date()).toISOString(),
  };
  const signature = Buffer.from(key.sign(bundleSigningPayload(base))).toString("base64url");
  return BundleRecord.parse({ ...base, signer: key.publicKey, signature, ...(o.entry ? { entry: o.entry } : {}) });
}

/**
 * Parses a list of trusted operator public keys (comma or whitespace separated).
 * @throws BundleRejectedError naming a key that is not an operator public key.
 */
export function parseTrustedKeys(text: string): string[] {
  const keys = text.split(/[\s,]+/).filter(Boolean);
  for (const k of keys) {
    let ok = k.startsWith("O");
    try {
      if (ok) fromPublic(k);
    } catch {
      ok = false;
    }
    if (!ok) throw new BundleRejectedError(`trusted key "${k}" is not an operator public key (starts with O)`);
  }
  return keys;
}

/**
 * Checks `bytes` against `record` for (queue, version): the record names the expected queue and
 * version, its signer is one of `trusted`, the signature covers its fields, and the bytes have its
 * size and sha256. Returns the verified record.
 * @throws BundleRejectedError saying which check failed.
 */
export function verifyBundle(
  bytes: Uint8Array,
  raw: unknown,
  o: { queue: string; version: string; trusted: readonly string[] },
): BundleRecord {
  const parsed = BundleRecord.safeParse(raw);
  const what = `bundle ${o.queue}/${o.version}`;
  if (!parsed.success) throw new BundleRejectedError(`${what}: its record is malformed (${parsed.error.issues[0]?.message ?? "invalid"})`);
  const r = parsed.data;
  if (r.queue !== o.queue || r.version !== o.version)
    throw new BundleRejectedError(`${what}: its record is for ${r.queue}/${r.version}, refusing to load it`);
  if (o.trusted.length === 0) throw new BundleRejectedError(`${what}: no trusted signer keys configured (--trusted-keys)`);
  if (!o.trusted.includes(r.signer)) throw new BundleRejectedError(`${what}: signed by ${r.signer}, which is not a trusted key`);
  let valid = false;
  try {
    valid = fromPublic(r.signer).verify(bundleSigningPayload(r), Buffer.from(r.signature, "base64url"));
  } catch (err) {
    throw new BundleRejectedError(`${what}: signature cannot be checked (${(err as Error).message})`);
  }
  if (!valid) throw new BundleRejectedError(`${what}: signature does not match its record (tampered record?)`);
  if (bytes.byteLength !== r.size)
    throw new BundleRejectedError(`${what}: bundle has ${bytes.byteLength} bytes, the signed record says ${r.size} (tampered bundle?)`);
  const sha = sha256Hex(bytes);
  if (sha !== r.sha256) throw new BundleRejectedError(`${what}: sha256 ${sha} does not match the signed ${r.sha256} (tampered bundle?)`);
  return r;
}

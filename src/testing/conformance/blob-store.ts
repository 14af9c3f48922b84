import { randomBytes } from "node:crypto";
import { deepStrictEqual as eq, equal, ok } from "node:assert/strict";
import type { BlobStore } from "../../ports/blob-store.js";
import { type ConformanceCase, type Disposable, defineCases } from "./case.js";

/** What blobStoreConformance's factory returns: a fresh, empty store (own bucket or prefix). */
export interface BlobStoreUnderTest extends Disposable {
  store: BlobStore;
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Every behaviour the kernel and the broker rely on from a BlobStore. */
export function blobStoreConformance(factory: () => Promise<BlobStoreUnderTest>): ConformanceCase[] {
  return defineCases("blob store", factory, {
    "put/get round-trips bytes exactly (binary, empty, large); a missing key reads null": async ({ store: s }) => {
      const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
      const large = new Uint8Array(randomBytes(3 * 1024 * 1024 + 17));
      await s.put("runs/r1/binary.bin", binary, { contentType: "application/octet-stream" });
      await s.put("runs/r1/empty", new Uint8Array(0));
      await s.put("runs/r1/large.bin", large);
      eq(await s.get("runs/r1/binary.bin"), binary);
      eq(await s.get("runs/r1/empty"), new Uint8Array(0));
      const back = await s.get("runs/r1/large.bin");
      ok(back && back.length === large.length && Buffer.from(back).equals(Buffer.from(large)), "large blob intact");
      equal(await s.get("runs/r1/missing"), null);
    },

    "returned bytes are a plain Uint8Array, isolated from the stored copy": async ({ store: s }) => {
      const data = bytes("original");
      await s.put("k/iso", data);
      data[0] = 0;
      const got = await s.get("k/iso");
      ok(got instanceof Uint8Array);
      eq(Buffer.from(got).toString(), "original");
      got[0] = 0;
      eq(Buffer.from((await s.get("k/iso"))!).toString(), "original");
    },

    "put overwrites; has and delete; deleting a missing key is not an error": async ({ store: s }) => {
      await s.put("k/a", bytes("one"));
      await s.put("k/a", bytes("two"), { contentType: "text/plain" });
      eq(await s.get("k/a"), bytes("two"));
      equal(await s.has("k/a"), true);
      equal(await s.has("k/b"), false);
      await s.delete("k/a");
      equal(await s.has("k/a"), false);
      equal(await s.get("k/a"), null);
      await s.delete("k/a");
      await s.delete("never/existed");
    },

    "list returns the keys under a prefix, sorted, and nothing else": async ({ store: s }) => {
      for (const k of ["runs/r1/s/b.json", "runs/r1/s/a.json", "runs/r1/t/c.json", "runs/r10/s/a.json", "other/x"])
        await s.put(k, bytes(k));
      eq(await s.list("runs/r1/"), ["runs/r1/s/a.json", "runs/r1/s/b.json", "runs/r1/t/c.json"]);
      eq(await s.list("runs/r1/s/"), ["runs/r1/s/a.json", "runs/r1/s/b.json"]);
      eq(await s.list("runs/r1"), ["runs/r1/s/a.json", "runs/r1/s/b.json", "runs/r1/t/c.json", "runs/r10/s/a.json"]);
      eq(await s.list("nothing/"), []);
    },

    "deletePrefix removes every key under the prefix and counts them": async ({ store: s }) => {
      for (let i = 0; i < 12; i++) await s.put(`runs/r2/s/${String(i).padStart(2, "0")}`, bytes(`${i}`));
      await s.put("runs/r20/keep", bytes("keep"));
      equal(await s.deletePrefix("runs/r2/"), 12);
      eq(await s.list("runs/r2/"), []);
      eq(await s.list("runs/r20/"), ["runs/r20/keep"]);
      equal(await s.deletePrefix("runs/r2/"), 0);
    },

    "keys with spaces, unicode and deep nesting round-trip": async ({ store: s }) => {
      const keys = [
        "runs/r3/with space/file name.txt",
        "runs/r3/ünïcødé/日本.json",
        "runs/r3/a/b/c/d/e/f.bin",
        "runs/r3/plus+and=eq&amp.txt",
      ];
      for (const k of keys) await s.put(k, bytes(k));
      for (const k of keys) eq(await s.get(k), bytes(k), k);
      eq(await s.list("runs/r3/"), [...keys].sort());
    },
  });
}

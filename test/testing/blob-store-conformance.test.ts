import { test } from "uvu";
import { InMemoryBlobStore, blobStoreConformance } from "../../src/testing/index.js";

for (const c of blobStoreConformance(async () => ({ store: new InMemoryBlobStore(), cleanup: async () => {} }))) {
  test(c.name, c.run);
}

test.run();

import { test } from "uvu";
import { InMemoryPersistence, persistenceConformance } from "../../src/testing/index.js";

for (const c of persistenceConformance(async () => ({ persistence: new InMemoryPersistence(), cleanup: async () => {} }))) {
  test(c.name, c.run);
}

test.run();

import { test } from "uvu";
import { InMemoryActivityTaskStore, activityTaskStoreConformance } from "../../src/testing/index.js";

for (const c of activityTaskStoreConformance(async () => ({ store: new InMemoryActivityTaskStore(), cleanup: async () => {} }))) {
  test(c.name, c.run);
}

test.run();

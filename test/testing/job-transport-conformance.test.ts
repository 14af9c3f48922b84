import { test } from "uvu";
import { InMemoryJobQueue, jobTransportConformance } from "../../src/testing/index.js";

for (const c of jobTransportConformance(async (opts) => {
  const transport = new InMemoryJobQueue(opts);
  return { transport, cleanup: () => transport.close() };
})) {
  test(c.name, c.run);
}

test.run();

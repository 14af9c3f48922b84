// The worker's bound on a multipart completion grows with the part count (the store assembles the
// whole object before it answers), within a cap, and is never below the configured base.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { COMPLETE_TIMEOUT_MAX_MS, completeTimeoutFor } from "../../worker-sdk/nats-transport.js";

test("6 GiB in 64 MiB parts (96) waits 396 s instead of a flat 300 s; 10,000 parts wait the 1 h cap", () => {
  assert.is(completeTimeoutFor(300_000, 1_000, 96), 396_000);
  assert.is(completeTimeoutFor(300_000, 1_000, 10_000), COMPLETE_TIMEOUT_MAX_MS);
  assert.is(COMPLETE_TIMEOUT_MAX_MS, 3_600_000);
});

test("a base above the cap is kept, and a per-part allowance of 0 restores the flat bound", () => {
  assert.is(completeTimeoutFor(4_000_000, 1_000, 10), 4_000_000);
  assert.is(completeTimeoutFor(300_000, 0, 5_000), 300_000);
});

test.run();

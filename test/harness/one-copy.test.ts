// The test runner runs every file from its compiled build (scripts/test-build.mjs) and maps any
// import of a checkout module into it (bin/build-hooks.js). A user module the code under test
// loads must get the process's own copy of the library, or identity checks between the two would
// fail in ways no user sees.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { defineStage } from "../../src/index.js";
import { importUserModule } from "../../orchestrator/import-module.js";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/one-copy/${name}`, import.meta.url));

test("a workflow module importing the library by path into the checkout gets this process's copy", async () => {
  const mod = await importUserModule(fixture("workflow-module.ts"));
  assert.is(mod.byPath, defineStage);
});

// From sources (JETFLOW_TEST_FROM_SOURCE=1, under tsx) "jetflow" is the package's dist/: only the CLI maps it.
if (process.env.JETFLOW_TEST_BUILD) {
  test('a workflow module importing "jetflow" gets this process\'s copy', async () => {
    const mod = await importUserModule(fixture("by-name.ts"));
    assert.is(mod.byName, defineStage);
  });
}

test.run();

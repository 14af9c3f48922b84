// Loaded with --import by the test runner into every test file's process: resolves the checkout's
// modules into the test build from the first user module on (see bin/package-paths.js), and
// spawned `jetflow` processes inherit JETFLOW_TEST_BUILD (the build's id) and do the same.
import { testBuild, useTestBuild } from "../bin/package-paths.js";

const build = testBuild();
if (!build) throw new Error(`JETFLOW_TEST_BUILD names no build of this checkout: ${process.env.JETFLOW_TEST_BUILD}`);
useTestBuild(build);

// Loaded with --import by the test runner into every test file's process: resolves the checkout's
// modules into the test build from the first user module on (see bin/package-paths.js), and
// spawned `jetflow` processes inherit JETFLOW_TEST_BUILD=1 and do the same.
import { useTestBuild } from "../bin/package-paths.js";

useTestBuild();

// Applies patches/ (fixes to dependencies that upstream has not released; see patches/README.md)
// with patch-package. patch-package is a dev dependency: when jetflow is installed as a package
// (`npm install jetflow`), it is absent and there is nothing to patch from here, so say so once.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
let bin;
try {
  bin = require.resolve("patch-package/index.js");
} catch {
  console.warn("jetflow: patch-package not installed (an installed package, not a checkout); dependency patches not applied");
  process.exit(0);
}
const r = spawnSync(process.execPath, [bin, "--error-on-fail"], { stdio: "inherit" });
process.exit(r.status ?? 1);

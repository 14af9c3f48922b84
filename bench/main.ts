/**
 * `npm run bench`: runs every benchmark in this folder, one process each (so one bench's
 * connections and timers cannot skew the next), and prints their ratio lines. Each bench
 * measures its own baseline in the same run; see the file headers for what is compared, and
 * docs/benchmarks.md for all of them (peers.ts: jetflow beside BullMQ, graphile-worker, pg-boss;
 * heartbeats.ts: the cost of leased tasks). Helpers in bench/support/ are not benches.
 *
 *   npm run bench [-- <name substring>...]
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "main.ts")
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

let failed = 0;
for (const file of benches) {
  process.stdout.write(`\n== bench/${file}\n`);
  const r = spawnSync(process.execPath, ["--import", "tsx", join(here, file)], { stdio: "inherit" });
  if (r.status !== 0) {
    failed++;
    process.stdout.write(`bench/${file} exited with ${r.status ?? r.signal}\n`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;

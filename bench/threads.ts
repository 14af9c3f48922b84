/**
 * What thread isolation costs per attempt: the same no-op stage run N times one after the other
 * (as a worker with concurrency 1 does) three ways, interleaved per round, measuring the
 * process's CPU (all threads) and wall time per attempt:
 *   - fresh: a new activity thread per attempt (`threadMaxAttempts: 1`, the behaviour before reuse);
 *   - reused: the worker's default pool (`threadMaxAttempts` 100), its first boot included;
 *   - inline: `stage.execute` on the main thread, the floor (no isolation).
 * Prints medians over the rounds and the ratios fresh/reused. Run as the benches are (under tsx),
 * a thread registers tsx and imports the module from sources, as `jetflow worker` does from a
 * checkout; the compiled package boots faster (docs/performance.md) but pays the same kind of cost.
 *
 *   npx tsx bench/threads.ts [attempts=40] [rounds=3]
 */
import type { StageContext } from "../src/contract/stage-types.js";
import { loadStageModule, silentWorkerLogger } from "../worker-sdk/index.js";
import { ActivityThreadPool } from "../worker-sdk/thread-pool.js";
import { DEFAULT_THREAD_MAX_ATTEMPTS } from "../worker-sdk/worker-options.js";
import { load, median } from "./support/stats.js";

const ATTEMPTS = Number(process.argv[2] ?? 40);
const ROUNDS = Number(process.argv[3] ?? 3);

const mod = await loadStageModule(new URL("./support/threads/noop-activities.ts", import.meta.url).pathname);
const stage = mod.stages.get("noop")!;
const ctx = (i: number) => ({ signal: new AbortController().signal, input: { i } }) as unknown as StageContext<unknown, unknown>;
const task = (i: number) => ({
  stageId: "noop",
  workflowRunId: `r${i}`,
  workflowId: "wf",
  attempt: 1,
  input: { i },
  config: {},
  workflowContext: null,
  heartbeatDetails: null,
});

type Mode = "fresh" | "reused" | "inline";

/** Runs ATTEMPTS attempts in `mode`; returns CPU and wall milliseconds per attempt. */
async function round(mode: Mode): Promise<{ cpu: number; wall: number }> {
  const pool =
    mode === "inline"
      ? null
      : new ActivityThreadPool(
          mod.file,
          {
            heapMb: 512,
            cancelGraceMs: 10_000,
            startTimeoutMs: 120_000,
            maxAttemptsPerThread: mode === "fresh" ? 1 : DEFAULT_THREAD_MAX_ATTEMPTS,
          },
          silentWorkerLogger,
        );
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < ATTEMPTS; i++) {
    const out = (pool ? await pool.run(task(i), ctx(i)) : await stage.execute(ctx(i) as never)) as { output: { i: number } };
    if (out.output.i !== i) throw new Error(`attempt ${i} returned ${JSON.stringify(out)}`);
  }
  await pool?.close();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / 1000 / ATTEMPTS, wall: wall / ATTEMPTS };
}

console.log(`thread isolation per attempt: ${ATTEMPTS} attempts x ${ROUNDS} rounds, interleaved; ${load()}`);
const modes: Mode[] = ["fresh", "reused", "inline"];
const seen: Record<Mode, { cpu: number[]; wall: number[] }> = {
  fresh: { cpu: [], wall: [] },
  reused: { cpu: [], wall: [] },
  inline: { cpu: [], wall: [] },
};
await round("reused"); // warm the main thread's own imports, not counted
for (let r = 0; r < ROUNDS; r++) {
  for (const m of r % 2 === 0 ? modes : [...modes].reverse()) {
    const x = await round(m);
    seen[m].cpu.push(x.cpu);
    seen[m].wall.push(x.wall);
  }
}
for (const m of modes)
  console.log(
    `${m.padEnd(7)} CPU ${median(seen[m].cpu).toFixed(2).padStart(8)} ms/attempt   wall ${median(seen[m].wall).toFixed(2).padStart(8)} ms/attempt`,
  );
const ratio = (k: "cpu" | "wall") => (median(seen.fresh[k]) / median(seen.reused[k])).toFixed(1);
console.log(`ratio fresh/reused: CPU ${ratio("cpu")}x, wall ${ratio("wall")}x`);

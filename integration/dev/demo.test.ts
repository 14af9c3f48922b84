// test-file-timeout-ms: 300000
// `npm run demo` as a new user runs it: the real stack (Postgres, NATS, S3, orchestrator, two
// worker processes) starts, the run completes, the output names the worker processes, a
// presigned artifact URL and the trace id, everything is stopped and the exit code is 0.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { alive, killGroup, root, start, type Proc } from "./processes.js";
import { natsOrSkip } from "./processes.js";

const dir = mkdtempSync(join(tmpdir(), "jetflow-demo-test-"));
// As root the embedded Postgres runs as user postgres, which must be able to enter the state directory.
chmodSync(dir, 0o755);
let demo: Proc | undefined;

test.after(() => {
  killGroup(demo);
  rmSync(dir, { recursive: true, force: true });
});

const t = natsOrSkip("integration/dev/demo") ? test : test.skip;

/** Runs the demo's entry from the test's own directory (its .jetflow/ state is this test's) until it exits. */
async function runDemo(args: string[]): Promise<{ code: number | null; out: string }> {
  demo = start(process.execPath, [join(root, "node_modules/tsx/dist/cli.mjs"), join(root, "demo/stack/main.ts"), ...args], { cwd: dir });
  const { code } = await Promise.race([
    demo.exited,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`demo did not finish in 240 s:\n${demo!.output()}`)), 240_000).unref(),
    ),
  ]);
  return { code, out: demo.output() };
}

t("npm run demo completes a run on worker processes and exits 0, leaving no process behind", async () => {
  const { code, out } = await runDemo([]);
  assert.is(code, 0, out);
  assert.match(out, /COMPLETED/);
  const pids = [...out.matchAll(/worker process (worker-(?:gpu|cpu)) \(pid (\d+)/g)].map((m) => ({ id: m[1], pid: Number(m[2]) }));
  assert.equal(pids.map((p) => p.id).sort(), ["worker-cpu", "worker-gpu"], out);
  assert.match(out, /ran by[\s\S]*worker-(gpu|cpu) \(worker process, pid \d+\)/);
  assert.match(out, /presigned GET of the cover: HTTP 200/);
  assert.match(out, /X-Amz-Signature=[0-9a-f]{64}/);
  const trace = /trace id: ([0-9a-f]{32})/.exec(out);
  assert.ok(trace && !/^0+$/.test(trace[1]!), `a real trace id: ${trace?.[1]}`);
  assert.match(out, /npx jetflow runs get [0-9a-f-]{36}/);
  for (const p of pids) assert.not.ok(alive(p.pid), `worker ${p.id} (pid ${p.pid}) still runs`);
});

t("--chaos: the frozen worker's task is redelivered to the other worker and its late report is refused", async () => {
  const { code, out } = await runDemo(["--chaos"]);
  assert.is(code, 0, out);
  assert.match(out, /chaos: froze worker-(gpu|cpu) \(pid \d+, SIGSTOP\) mid-task/);
  assert.match(out, /chaos: broker REFUSED the late report of attempt 1 from worker-(gpu|cpu)/);
  // Attempt 2 on a quiet machine; a later one when a loaded machine let a redelivery come back as
  // lease_live first (each delivery is an attempt). What matters: a later attempt won, its artifact is kept.
  const won = /word-stats completed on task attempt (\d+); 1 late report\(s\) refused/.exec(out);
  assert.ok(won && Number(won[1]) >= 2, `a later attempt completed word-stats:\n${out}`);
  assert.match(out, new RegExp(`word-stats/${won![1]}/stats\\.json`), "the artifact of the redelivered attempt is the one kept");
});

test.run();

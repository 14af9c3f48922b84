#!/usr/bin/env node
// Runs every uvu test file in its own Node process (so a file's servers, timers and
// globals die with it), sums uvu's per-file totals and ends with one line
// `N passed, M failed[, K skipped]`. Exits non-zero on any failure or when no test ran, and
// under CI=true also when any test was skipped (CI never skips: a skip would pass silently).
// Every failing file is reported with its reason (failed tests, exit code or signal, timeout,
// crash before uvu's summary) and the tail of its stderr and stdout.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { cpus } from "node:os";
import { buildForTests, builtPath, walk } from "./test-build.mjs";

const root = resolve(new URL("..", import.meta.url).pathname);
const TEST_DIRS = ["test", "integration"];
const FILE_TIMEOUT_MS = Number(process.env.JETFLOW_TEST_FILE_TIMEOUT_MS ?? 300_000);
// One lane more than cores: the files wait on servers, leases and child processes a good part of
// their time, so a third lane on 2 cores took the suite from about 700 s to 650 s (same machine,
// same hour), and the suite stays green at four (two concurrent `npm test` runs).
const CONCURRENCY = Math.max(1, Number(process.env.JETFLOW_TEST_CONCURRENCY ?? Math.max(2, cpus().length + 1)));

const filters = process.argv.slice(2);
// Files run longest first (durations measured by an earlier run, scripts/test-durations.json):
// with a few lanes, a 60 s file started last would otherwise run alone at the end.
// JETFLOW_TEST_RECORD_DURATIONS=1 rewrites that file from this run.
const DURATIONS_FILE = join(root, "scripts", "test-durations.json");
const known = existsSync(DURATIONS_FILE) ? JSON.parse(readFileSync(DURATIONS_FILE, "utf8")) : {};
const knownValues = Object.values(known).sort((a, b) => a - b);
const typical = knownValues.length ? knownValues[Math.floor(knownValues.length / 2)] : 0;
const expected = (f) => known[relative(root, f)] ?? typical;
const files = TEST_DIRS.flatMap((d) => walk(join(root, d), (f) => f.endsWith(".test.ts"), ["fixtures"]))
  .sort()
  .filter((f) => filters.length === 0 || filters.some((x) => relative(root, f).includes(x)))
  .sort((a, b) => expected(b) - expected(a));
const measured = {};
// Test files, and the jetflow processes they spawn, run a compiled copy of the checkout
// (scripts/test-build.mjs): about half the start-up CPU of compiling the sources under tsx in
// every process. JETFLOW_TEST_FROM_SOURCE=1 runs them under tsx instead.
const fromSource = process.env.JETFLOW_TEST_FROM_SOURCE === "1";
const buildId = files.length > 0 && !fromSource ? await buildForTests(root) : undefined;
const BOOT = join(root, "scripts", "test-boot.mjs");

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");

function parseTotals(text) {
  const clean = stripAnsi(text);
  const total = clean.match(/Total:\s+(\d+)/g);
  const passed = clean.match(/Passed:\s+(\d+)/g);
  const skipped = clean.match(/Skipped:\s+(\d+)/g);
  if (!total || !passed) return null;
  const last = (arr) => Number(arr[arr.length - 1].match(/(\d+)/)[1]);
  return { total: last(total), passed: last(passed), skipped: skipped ? last(skipped) : 0 };
}

/**
 * A file that needs more than the default budget says so in a comment near its top,
 * `// test-file-timeout-ms: 600000` (long suites: fuzz, chaos); scaled by the same env factor.
 */
function fileTimeoutMs(file) {
  const head = readFileSync(file, "utf8").slice(0, 4000);
  const m = head.match(/test-file-timeout-ms:\s*(\d+)/);
  return m ? Math.max(FILE_TIMEOUT_MS, Number(m[1]) * (FILE_TIMEOUT_MS / 300_000)) : FILE_TIMEOUT_MS;
}

function runFile(file) {
  const timeoutMs = fileTimeoutMs(file);
  return new Promise((resolveRun) => {
    const started = Date.now();
    const args = !buildId ? ["--import", "tsx", file] : ["--import", BOOT, builtPath(root, buildId, file)];
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1", ...(buildId ? { JETFLOW_TEST_BUILD: buildId } : {}) },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => ((output += d), (stdout += d)));
    child.stderr.on("data", (d) => ((output += d), (stderr += d)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      // Anything the file left in its process group (servers it spawned) goes with it.
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        /* group already empty */
      }
      resolveRun({ file, code, signal, output, stdout, stderr, timedOut, timeoutMs, ms: Date.now() - started });
    });
  });
}

let passed = 0;
let failed = 0;
let skipped = 0;
const queue = [...files];
const failures = [];
const skippedFiles = [];
const TAIL_LINES = Number(process.env.JETFLOW_TEST_TAIL_LINES ?? 80);

const tail = (text, n = TAIL_LINES) => {
  const lines = stripAnsi(text).trimEnd().split("\n");
  return (lines.length > n ? [`... (${lines.length - n} earlier lines)`, ...lines.slice(-n)] : lines).join("\n");
};

/** uvu's failure reports (from its first `FAIL "test name"` on, bounded), else the tail of stdout. */
function uvuFailures(stdout) {
  const clean = stripAnsi(stdout);
  const at = clean.search(/^\s*FAIL\s+"/m);
  if (at < 0) return ["--- stdout (tail) ---", tail(clean)];
  const lines = clean.slice(at).trimEnd().split("\n");
  const max = TAIL_LINES * 5;
  return ["--- uvu failures ---", ...lines.slice(0, max), ...(lines.length > max ? [`... (${lines.length - max} more lines)`] : [])];
}

/** Why a file failed, in one line: the runner's own facts, not only what uvu managed to print. */
function failureReason({ r, totals, fileFailed }) {
  const reasons = [];
  if (r.timedOut) reasons.push(`timed out after ${r.timeoutMs} ms and was killed (JETFLOW_TEST_FILE_TIMEOUT_MS)`);
  if (totals && totals.total > totals.passed) reasons.push(`${fileFailed} test(s) failed`);
  if (!totals && !r.timedOut) reasons.push("ended before uvu printed its summary (crash, unhandled error or process.exit)");
  if (r.signal && !r.timedOut) reasons.push(`killed by ${r.signal}`);
  else if (r.code !== 0 && r.code !== null) reasons.push(`exit code ${r.code}`);
  return reasons.join("; ") || "failed";
}

async function worker() {
  while (queue.length > 0) {
    const file = queue.shift();
    const r = await runFile(file);
    const rel = relative(root, file);
    const totals = parseTotals(r.output);
    let filePassed = 0;
    let fileFailed = 0;
    let fileSkipped = 0;
    if (totals) {
      filePassed = totals.passed;
      fileSkipped = totals.skipped;
      // uvu's "Total" counts only the tests that ran; skipped ones are reported apart.
      fileFailed = Math.max(0, totals.total - totals.passed);
    }
    // A crash, timeout or non-zero exit with no counted failure still fails the file.
    if ((r.code !== 0 || r.timedOut || !totals) && fileFailed === 0) fileFailed = 1;
    passed += filePassed;
    failed += fileFailed;
    skipped += fileSkipped;
    measured[rel] = Math.round(r.ms / 100) / 10;
    const status = fileFailed > 0 ? "FAIL" : "ok  ";
    const why = r.timedOut ? ` (timed out after ${r.timeoutMs} ms)` : "";
    process.stdout.write(
      `${status} ${rel}  ${filePassed} passed, ${fileFailed} failed${fileSkipped ? `, ${fileSkipped} skipped` : ""}  ${(r.ms / 1000).toFixed(1)}s${why}\n`,
    );
    if (fileSkipped > 0) skippedFiles.push(rel);
    if (fileFailed > 0) failures.push({ rel, r, totals, fileFailed });
    else if (process.env.JETFLOW_TEST_VERBOSE) process.stdout.write(stripAnsi(r.output));
  }
}

if (files.length === 0) {
  console.log("no test files found");
  console.log("0 passed, 0 failed");
  process.exit(1);
}

await Promise.all(Array.from({ length: Math.min(CONCURRENCY, files.length) }, worker));

if (process.env.JETFLOW_TEST_RECORD_DURATIONS === "1") {
  const sorted = Object.fromEntries(Object.entries({ ...known, ...measured }).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(DURATIONS_FILE, `${JSON.stringify(sorted, null, 2)}\n`);
}

for (const f of failures) {
  const out = [`\n===== ${f.rel} =====`, `reason: ${failureReason(f)}`];
  // uvu prints its failure details on stdout at the end; a crash or hang leaves them out, so both
  // streams' tails are shown (the stderr tail holds the error of a crash, or the last logs of a hang).
  if (f.r.stdout.trim()) out.push(...uvuFailures(f.r.stdout));
  if (f.r.stderr.trim()) out.push(`--- stderr (tail) ---`, tail(f.r.stderr));
  if (!f.r.stdout.trim() && !f.r.stderr.trim()) out.push("(the file printed nothing)");
  process.stdout.write(`${out.join("\n")}\n`);
}
const ciSkips = process.env.CI === "true" && skipped > 0;
if (ciSkips) {
  process.stdout.write(`\nCI=true: ${skipped} test(s) skipped, which CI does not allow (a skipped test passes silently):\n`);
  for (const f of skippedFiles) process.stdout.write(`  ${f}\n`);
}
process.stdout.write(`\n${passed} passed, ${failed + (ciSkips ? skipped : 0)} failed${skipped ? `, ${skipped} skipped` : ""}\n`);
process.exit(failed > 0 || passed === 0 || ciSkips ? 1 : 0);

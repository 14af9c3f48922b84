/**
 * The `jetflow` executable as a user meets it: `node bin/jetflow.js ...` from a clone with
 * no build (the tsx path), help, version, and clear failures with non-zero exit codes.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

function jetflow(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/jetflow.js", ...args], {
    encoding: "utf8",
    timeout: 60_000,
    // From source: this test is about a fresh clone, whatever dist/ holds.
    env: { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1", NO_COLOR: "1" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("--help lists the registered commands and exits 0", () => {
  const r = jetflow("--help");
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /Usage: jetflow/);
  for (const cmd of ["runs", "stats", "help"]) assert.match(r.stdout, new RegExp(`^\\s+${cmd}\\b`, "m"), `${cmd} missing from --help`);
});

test("--version prints the package version", () => {
  const r = jetflow("--version");
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), pkg.version);
});

test("an unknown command fails with a clear message and a non-zero exit", () => {
  const r = jetflow("frobnicate");
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  assert.is(r.stdout, "");
});

test("a missing argument or a bad option value fails clearly", () => {
  const missing = jetflow("runs", "get");
  assert.is.not(missing.code, 0);
  assert.match(missing.stderr, /missing required argument/);
  const bad = jetflow("stats", "--no-such-flag");
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, /unknown option '--no-such-flag'/);
});

test("bin/jetflow.js is executable and has a node shebang", () => {
  const text = readFileSync(new URL("../../bin/jetflow.js", import.meta.url), "utf8");
  assert.ok(text.startsWith("#!/usr/bin/env node\n"));
  const ls = spawnSync("git", ["ls-files", "-s", "bin/jetflow.js"], { encoding: "utf8" });
  if (ls.stdout.trim()) assert.match(ls.stdout, /^100755 /, "git must record the exec bit");
});

test.run();

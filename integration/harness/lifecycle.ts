/**
 * Makes sure nothing the harness starts outlives the test process.
 *
 * Three layers, because each covers a death the others cannot:
 * 1. `stop()` on the service (the normal path, async, graceful).
 * 2. Synchronous "last resort" hooks on process `exit` (which also fires after an uncaught
 *    error) and on SIGTERM/SIGINT/SIGHUP: they SIGKILL/SIGQUIT by pid, since no async work
 *    can run on `exit`.
 * 3. A sweep of stale temp dirs left by a process that was SIGKILLed (e.g. by the test
 *    runner's timeout), run whenever a new server is started: every dir records its owner's
 *    pid, and a dir whose owner is dead is cleaned up by the next harness user.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";

type Hook = () => void;

const hooks = new Set<Hook>();
let installed = false;

function runHooks(): void {
  for (const hook of [...hooks]) {
    hooks.delete(hook);
    try {
      hook();
    } catch (err) {
      // Exit path: nothing can be awaited or rethrown usefully; say what leaked.
      process.stderr.write(`[jetflow harness] cleanup at exit failed: ${String(err)}\n`);
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runHooks();
  // Our listener replaced Node's default "die on signal"; restore that behaviour unless
  // the test installed its own handler (e.g. a host under test doing a graceful stop).
  if (process.listenerCount(signal) === 1) {
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runHooks);
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, onSignal);
}

/**
 * Registers a synchronous cleanup to run if the process exits before `stop()`.
 * Returns the function that unregisters it (call it from `stop()`).
 */
export function onProcessExit(hook: Hook): () => void {
  install();
  hooks.add(hook);
  return () => {
    hooks.delete(hook);
  };
}

/** True when a process with this pid exists (EPERM means it exists but is not ours). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Sends a signal to a pid, ignoring only "no such process". */
export function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

const OWNER_FILE = "jetflow-owner.json";

interface Owner {
  pid: number;
  host: string;
}

/** Creates `<tmpdir>/<prefix>XXXXXX` and records this process as its owner. */
export function makeOwnedTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const owner: Owner = { pid: process.pid, host: hostname() };
  writeFileSync(join(dir, OWNER_FILE), JSON.stringify(owner));
  return dir;
}

/**
 * Finds temp dirs with this prefix whose owning process is dead, calls `reap(dir)` to stop
 * whatever server still runs from it, then deletes the dir. Errors are reported, not thrown:
 * a failed sweep must not fail the test that triggered it.
 */
export function sweepStaleTempDirs(prefix: string, reap: (dir: string) => void): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir()).filter((n) => n.startsWith(prefix));
  } catch (err) {
    process.stderr.write(`[jetflow harness] cannot list ${tmpdir()}: ${String(err)}\n`);
    return;
  }
  for (const name of names) {
    const dir = join(tmpdir(), name);
    let owner: Owner;
    try {
      owner = JSON.parse(readFileSync(join(dir, OWNER_FILE), "utf8")) as Owner;
    } catch {
      continue; // being created right now, or not ours: leave it alone
    }
    if (owner.host !== hostname() || isAlive(owner.pid)) continue;
    try {
      reap(dir);
      rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      process.stderr.write(`[jetflow harness] could not clean stale ${dir}: ${String(err)}\n`);
    }
  }
}

/** True when running under CI (CI set to anything but "", "0" or "false"). */
export function inCI(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== "" && ci !== "0" && ci.toLowerCase() !== "false";
}

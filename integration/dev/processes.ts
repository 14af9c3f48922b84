/** Spawning the real `jetflow dev` / demo processes for integration/dev tests, with bounded, event-driven waits. */
import { spawn, type ChildProcess } from "node:child_process";
import { connect as tcpConnect } from "node:net";
import { findNatsServer } from "../../cli/dev/nats.js";
import { inCI } from "../harness/lifecycle.js";

export const root = new URL("../..", import.meta.url).pathname;

export interface Proc {
  child: ChildProcess;
  output(): string;
  /** Resolves once the output contains `text`; rejects on exit or after `ms`. */
  waitFor(text: string | RegExp, ms: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `cmd args` in its own process group, collecting stdout and stderr. */
export function start(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  const child = spawn(cmd, args, {
    cwd: opts.cwd ?? root,
    env: opts.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      resolve({ code, signal });
      for (const l of listeners) l();
    }),
  );
  return {
    child,
    output: () => out,
    exited,
    waitFor(text, ms) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = typeof text === "string" ? out.includes(text) : text.test(out);
          if (hit) return done(() => resolve(out));
          if (child.exitCode !== null || child.signalCode !== null)
            return done(() => reject(new Error(`exited (${child.exitCode ?? child.signalCode}) before printing ${text}:\n${out}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no ${text} within ${ms} ms:\n${out}`))), ms);
        const done = (f: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** True while `pid` exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // ESRCH: gone
  }
}

/** True when 127.0.0.1:`port` accepts a TCP connection. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Kills the whole process group of a test's process (after a failed assertion). */
export function killGroup(p: Proc | undefined): void {
  if (p?.child.pid && p.child.exitCode === null) {
    try {
      process.kill(-p.child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** True when `jetflow dev` can start nats-server here; outside CI a missing one skips (loudly), in CI it fails. */
export function natsOrSkip(who: string): boolean {
  if (findNatsServer().bin) return true;
  if (inCI()) throw new Error(`${who}: nats-server is not on PATH (apt-get install -y nats-server)`);
  console.warn(`SKIP ${who}: nats-server is not on PATH (apt-get install -y nats-server)`);
  return false;
}

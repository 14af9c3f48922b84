/** Process plumbing of bench/heartbeats.ts: a nats-server of its own (so its pid is known), bench children, /proc CPU ticks. */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findNatsServerBinary, freePort, waitForPort } from "../../../integration/harness/index.js";
import { LINE } from "./shared.js";

const here = dirname(fileURLToPath(import.meta.url));

/** Clock ticks per second of /proc/<pid>/stat times. */
export const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** utime + stime of a process in clock ticks, or undefined when it is gone. */
export function cpuTicks(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined; // exited
    throw err;
  }
  // Fields after "(comm)": state is the first; utime and stime are the 12th and 13th.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(rest[11]) + Number(rest[12]);
}

export interface Child {
  pid: number;
  /** Resolves with the first message (parsed "HB {...}" line) matching `pred`, or rejects after `ms` / on exit. */
  waitFor(pred: (m: Record<string, unknown>) => boolean, ms: number, what: string): Promise<Record<string, unknown>>;
  messages: Record<string, unknown>[];
  /** Why the process is gone, or undefined while it runs. */
  exited(): string | undefined;
  log(): string;
  kill(signal: NodeJS.Signals, ms?: number): Promise<void>;
}

/** Spawns `node --import tsx bench/support/heartbeats/<script>` with `env`; `onMessage` sees each message as it arrives. */
export function startChild(script: string, env: Record<string, string>, onMessage?: (m: Record<string, unknown>) => void): Child {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", join(here, script)], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  let buf = "";
  const messages: Record<string, unknown>[] = [];
  const listeners = new Set<() => void>();
  let exited: string | undefined;
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith(LINE)) {
        const m = JSON.parse(line.slice(LINE.length)) as Record<string, unknown>;
        messages.push(m);
        onMessage?.(m);
      } else log = (log + line + "\n").slice(-20_000);
    }
    for (const l of listeners) l();
  });
  child.stderr!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  const gone = new Promise<void>((r) =>
    child.on("exit", (code, sig) => {
      exited = `${script} exited (code ${code}, signal ${sig})`;
      for (const l of listeners) l();
      r();
    }),
  );
  return {
    pid: child.pid!,
    messages,
    exited: () => exited,
    log: () => log,
    waitFor(pred, ms, what) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = messages.find(pred);
          if (m) done(() => resolve(m));
          else if (exited) done(() => reject(new Error(`${what}: ${exited}\n${log.slice(-4000)}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${what}: not within ${ms} ms\n${log.slice(-4000)}`))), ms);
        const done = (f: () => void): void => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        listeners.add(check);
        check();
      });
    },
    async kill(signal, ms = 20_000) {
      if (exited) return;
      child.kill(signal);
      const t = setTimeout(() => child.kill("SIGKILL"), ms);
      await gone;
      clearTimeout(t);
    },
  };
}

/** A nats-server of the bench's own with JetStream on file storage in a temp dir. */
export async function startNats(): Promise<{ url: string; pid: number; version: string; stop(): Promise<void> }> {
  const { bin, looked } = findNatsServerBinary();
  if (!bin) throw new Error(`no nats-server binary (looked in ${looked.join(", ")})`);
  const version = execFileSync(bin, ["--version"]).toString().trim();
  const dir = mkdtempSync(join(tmpdir(), "jetflow-bench-nats-"));
  const port = await freePort();
  const child = spawn(bin, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const gone = new Promise<void>((r) => child.on("exit", () => r()));
  try {
    await waitForPort({
      host: "127.0.0.1",
      port,
      greeting: "INFO ",
      deadlineMs: 10_000,
      abort: () => (child.exitCode !== null ? `nats-server exited: ${err}` : undefined),
    });
  } catch (e) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    pid: child.pid!,
    version,
    async stop() {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await gone;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Ports and readiness probes for the local services `jetflow dev` starts. */
import { createServer, connect as tcpConnect } from "node:net";
import { setTimeout as delay } from "node:timers/promises";

/** Binds `port` on 127.0.0.1 (0 = any) and releases it: resolves the bound port, or null when taken. */
function tryBind(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(null));
    srv.listen(port, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(addr && typeof addr === "object" ? addr.port : null));
    });
  });
}

/**
 * The preferred port when it is free (stable URLs across restarts), else one the kernel picks.
 * `0` asks for any free port. Another process may still take it before the server binds; the
 * servers' own start errors then say so.
 */
export async function choosePort(preferred: number): Promise<{ port: number; moved: boolean }> {
  if (preferred !== 0) {
    const got = await tryBind(preferred);
    if (got !== null) return { port: got, moved: false };
  }
  const any = await tryBind(0);
  if (any === null) throw new Error("could not find a free TCP port on 127.0.0.1");
  return { port: any, moved: preferred !== 0 };
}

/** One connection attempt: true when the port accepts (and sends `greeting`, when given). */
function probeOnce(port: number, greeting: string | undefined, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host: "127.0.0.1", port });
    let seen = "";
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once("error", () => done(false));
    sock.once("connect", () => greeting === undefined && done(true));
    sock.on("data", (chunk: Buffer) => {
      seen += chunk.toString("latin1");
      if (greeting !== undefined && seen.startsWith(greeting)) done(true);
    });
  });
}

/**
 * Resolves once 127.0.0.1:`port` accepts a connection (and greets with `greeting`), rejects after
 * `deadlineMs` or as soon as `abort()` names a reason (e.g. the server process exited).
 */
export async function waitForPort(
  port: number,
  opts: { greeting?: string; deadlineMs: number; abort?: () => string | undefined },
): Promise<void> {
  const until = Date.now() + opts.deadlineMs;
  let wait = 5;
  for (;;) {
    const reason = opts.abort?.();
    if (reason) throw new Error(reason);
    if (await probeOnce(port, opts.greeting, 1_000)) return;
    if (Date.now() > until) throw new Error(`127.0.0.1:${port} did not accept connections within ${opts.deadlineMs} ms`);
    await delay(wait);
    wait = Math.min(wait * 2, 100);
  }
}

/** Sends `signal` to `pid` if it still exists; false when it does not. */
export function signalPid(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

/** Waits (bounded) until `pid` is gone; SIGKILLs it when `deadlineMs` passes. */
export async function waitGone(pid: number, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (signalPid(pid, 0)) {
    if (Date.now() > until) {
      signalPid(pid, "SIGKILL");
      await delay(50);
      if (Date.now() > until + 5_000) return;
    } else await delay(20);
  }
}

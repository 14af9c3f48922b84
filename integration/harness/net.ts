/** Small network probes shared by the service resolvers. */
import { createServer, connect as tcpConnect } from "node:net";

/**
 * Asks the kernel for a free TCP port on 127.0.0.1. Another process may grab it before the
 * server binds, so callers retry a failed start with a new port.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr && typeof addr === "object") resolve(addr.port);
        else reject(new Error("could not determine a free port"));
      });
    });
  });
}

/** One attempt: resolves true when the port accepts a TCP connection (and `greeting` arrives, if given). */
function probeOnce(host: string, port: number, greeting: string | undefined, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host, port });
    let seen = "";
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once("error", () => done(false));
    sock.once("connect", () => {
      if (greeting === undefined) done(true);
    });
    sock.on("data", (chunk: Buffer) => {
      seen += chunk.toString("latin1");
      if (greeting !== undefined && seen.startsWith(greeting)) done(true);
    });
  });
}

/**
 * Polls until `host:port` accepts a connection (and sends `greeting`, e.g. NATS's "INFO "),
 * or `deadlineMs` passes. `abort()` returning a reason (e.g. "the server exited") stops early.
 * Polling with a short back-off is the readiness probe, not a sleep: it ends as soon as the
 * condition holds.
 */
export async function waitForPort(opts: {
  host: string;
  port: number;
  greeting?: string;
  deadlineMs: number;
  abort?: () => string | undefined;
}): Promise<void> {
  const until = Date.now() + opts.deadlineMs;
  let delay = 5;
  for (;;) {
    const reason = opts.abort?.();
    if (reason) throw new Error(reason);
    if (await probeOnce(opts.host, opts.port, opts.greeting, 1000)) return;
    if (Date.now() > until) throw new Error(`${opts.host}:${opts.port} did not accept connections within ${opts.deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
}

/** Resolves true when nothing listens on `host:port` any more (connection refused). */
export async function portRefuses(host: string, port: number): Promise<boolean> {
  return !(await probeOnce(host, port, undefined, 1000));
}

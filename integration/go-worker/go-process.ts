/** Builds examples/go-worker offline and runs it as a process, for integration/go-worker tests. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { inCI } from "../harness/index.js";

const root = resolve(new URL("../..", import.meta.url).pathname);
/** Debian's golang-go + golang-github-nats-io-go-nats-dev, no module download (docs: examples/go-worker/README.md). */
const GO_ENV = {
  GO111MODULE: "off",
  GOPATH: "/usr/share/gocode",
  GOPROXY: "off",
  GOFLAGS: "",
  // go refuses to build without a cache directory (CI may run without $HOME).
  GOCACHE: process.env.GOCACHE ?? join(tmpdir(), "jetflow-go-build-cache"),
};

/**
 * `go build`s the worker into `outFile`. Null when `go` is missing on a developer machine
 * (the caller skips, loudly); under CI a missing toolchain is an error.
 * @throws Error with the compiler's output when the build fails.
 */
export async function buildGoWorker(outFile: string, who: string): Promise<string | null> {
  const run = (args: string[]) =>
    new Promise<{ code: number; out: string; missing: boolean }>((done) =>
      execFile(
        "go",
        args,
        { cwd: join(root, "examples/go-worker"), env: { ...process.env, ...GO_ENV }, timeout: 240_000 },
        (err, stdout, stderr) =>
          done({ code: err ? 1 : 0, out: stdout + stderr, missing: (err as NodeJS.ErrnoException | null)?.code === "ENOENT" }),
      ),
    );
  const r = await run(["build", "-o", outFile, "."]);
  if (r.missing) {
    const why = "`go` is not installed (apt-get install -y golang-go golang-github-nats-io-go-nats-dev)";
    if (inCI()) throw new Error(`${who}: ${why}; CI must run the Go worker`);
    console.warn(`SKIP ${who}: ${why}`);
    return null;
  }
  if (r.code !== 0) throw new Error(`go build of examples/go-worker failed:\n${r.out}`);
  return outFile;
}

export interface GoWorker {
  readonly child: ChildProcess;
  readonly pid: number;
  log(): string;
  /** Resolves once the log matches `re` (bounded). */
  waitFor(re: RegExp, what: string, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code when the process exits on its own. */
  exited(): Promise<number | null>;
  /** SIGTERM and wait for the exit code (SIGKILL after 15 s). */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

/** Starts the built worker with `args` and resolves once it logged "worker started". */
export async function startGoWorker(binary: string, args: string[]): Promise<GoWorker> {
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const waiters = new Set<() => void>();
  const onData = (c: Buffer) => {
    log += c;
    for (const w of [...waiters]) w();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const waitFor = (re: RegExp, what: string, timeoutMs = 30_000) =>
    new Promise<RegExpMatchArray>((ok, fail) => {
      const check = () => {
        const m = log.match(re);
        if (!m) return;
        done();
        ok(m);
      };
      const timer = setTimeout(() => {
        done();
        fail(new Error(`Go worker: no ${what} within ${timeoutMs} ms:\n${log}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      void exited.then((code) => {
        if (!waiters.has(check)) return;
        done();
        fail(new Error(`Go worker exited (${code}) before ${what}:\n${log}`));
      });
      check();
    });
  await waitFor(/worker started/, "start");
  return {
    child,
    pid: child.pid!,
    log: () => log,
    waitFor,
    exited: () => exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}

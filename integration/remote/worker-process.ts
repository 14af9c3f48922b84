/** Spawns `jetflow worker` processes (the real CLI, from source) for integration/remote tests. */
import { spawn, type ChildProcess } from "node:child_process";
import { join, resolve } from "node:path";

const root = resolve(new URL("../..", import.meta.url).pathname);

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly workerId: string;
  /** Everything the process wrote (its pino log on stderr). */
  log(): string;
  /** SIGTERM (drain) and wait for the exit code (bounded; SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL and wait until the process is gone. */
  kill9(): Promise<void>;
  /** SIGSTOP: the process keeps its state but runs nothing (no heartbeat) until `resume`. */
  pause(): void;
  resume(): void;
  /** Resolves with the exit code when the process exits on its own (e.g. after a fleet drain). */
  exited(): Promise<number | null>;
}

/**
 * Starts `jetflow worker <args>` and resolves once it logged "worker started" (bounded).
 * `command` replaces `node bin/jetflow.js worker`, e.g. an installed `jetflow-worker` executable;
 * `fromSource: false` lets a built one run its dist/ (the default forces JETFLOW_CLI_FROM_SOURCE).
 */
export async function startWorkerProcess(
  workerId: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { timeoutMs?: number; command?: string[]; cwd?: string; fromSource?: boolean } = {},
): Promise<WorkerProcess> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const [cmd, ...cmdArgs] = opts.command ?? [process.execPath, join(root, "bin/jetflow.js"), "worker"];
  const child = spawn(cmd!, [...cmdArgs, "--worker-id", workerId, ...args], {
    env: opts.fromSource === false ? env : { ...env, JETFLOW_CLI_FROM_SOURCE: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  let log = "";
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`worker ${workerId} did not start in ${timeoutMs} ms:\n${log}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      log += chunk;
      if (log.includes('"worker started"')) {
        clearTimeout(timer);
        ok();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`worker ${workerId} exited with ${code} before starting:\n${log}`));
    });
  });
  return {
    child,
    pid: child.pid!,
    workerId,
    log: () => log,
    async stop(ms = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), ms);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    exited: () => exited,
    pause: () => void child.kill("SIGSTOP"),
    resume: () => void child.kill("SIGCONT"),
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}

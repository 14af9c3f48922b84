/** Worker processes of `jetflow dev`: real `jetflow worker` children, each with its own scoped credential. */
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { join } from "node:path";

/** One running worker process. */
export interface DevWorker {
  readonly id: string;
  readonly labels: string;
  readonly pid: number;
  /** The credential it connected with (`jetflow creds issue`), if the stack issued one. */
  readonly credsFile: string | undefined;
  readonly logFile: string;
  /** SIGSTOP / SIGCONT: frozen, it heartbeats nothing (the demo's --chaos). */
  pause(): void;
  resume(): void;
  /** Resolves with the exit code once the process ended. */
  readonly exited: Promise<number | null>;
  /** SIGTERM (drain: in-flight tasks finish), SIGKILL after `graceMs`; resolves once gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL now (used by exit hooks). */
  killNow(): void;
}

export interface StartWorkerOptions {
  id: string;
  labels?: string;
  bin: string;
  module: string;
  queue: string;
  codeVersion: string;
  servers: string;
  credsFile?: string;
  heartbeatMs: number;
  logDir: string;
  env: NodeJS.ProcessEnv;
  readyTimeoutMs: number;
}

/** Starts `jetflow worker` and resolves once it logged "worker started" (bounded), else rejects with its log. */
export async function startDevWorker(o: StartWorkerOptions): Promise<DevWorker> {
  const args = [o.bin, "worker", "--queue", o.queue, "--code-version", o.codeVersion, "--worker-id", o.id, "--module", o.module];
  // Short pulls: a draining worker waits for its current pull, so this bounds how long Ctrl+C takes.
  args.push("--servers", o.servers, "--heartbeat-ms", String(o.heartbeatMs), "--poll-ms", "1000", "--fleet-heartbeat-ms", "5000");
  // Inline: no per-attempt thread (and TypeScript compile in it), so a dev round trip takes milliseconds.
  args.push("--isolation", "inline");
  if (o.credsFile) args.push("--creds", o.credsFile);
  if (o.labels) args.push("--labels", o.labels);
  const logFile = join(o.logDir, `worker-${o.id}.log`);
  const log = createWriteStream(logFile, { flags: "a" });
  const child = spawn(process.execPath, args, {
    env: { ...o.env, JETFLOW_DEV_WORKER_ID: o.id },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: Ctrl+C reaches `jetflow dev` only, which drains the workers first.
    detached: true,
  });
  let recent = "";
  let started = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      log.end();
      resolve(code);
    });
    child.once("error", () => resolve(null));
  });
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`worker ${o.id} did not start within ${o.readyTimeoutMs} ms:\n${recent}`)),
      o.readyTimeoutMs,
    );
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      if (started) return;
      recent = (recent + chunk.toString()).slice(-4000);
      if (recent.includes('"worker started"')) {
        started = true;
        clearTimeout(timer);
        ok();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      if (!started) fail(new Error(`worker ${o.id} exited with ${code} before starting:\n${recent}`));
    });
  }).catch(async (err) => {
    child.kill("SIGKILL");
    await exited;
    throw err;
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  let stopping: Promise<void> | undefined;
  return {
    id: o.id,
    labels: o.labels ?? "",
    pid: child.pid!,
    credsFile: o.credsFile,
    logFile,
    pause: () => void (alive() && child.kill("SIGSTOP")),
    resume: () => void (alive() && child.kill("SIGCONT")),
    exited,
    killNow: () => void (alive() && child.kill("SIGKILL")),
    stop: (graceMs = 10_000) =>
      (stopping ??= (async () => {
        if (!alive()) return;
        child.kill("SIGCONT"); // a frozen worker cannot drain
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      })()),
  };
}

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(new URL("../..", import.meta.url).pathname);

export interface OrchestratorProcess {
  child: ChildProcess;
  pid: number;
  /** Everything the process wrote to stderr (its pino log). */
  log(): string;
  /** SIGTERM and wait for exit (bounded); SIGKILL if it does not go. */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
  /** SIGSTOP: the process keeps its state but runs nothing (no heartbeat) until {@link resume}. */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
}

export interface TestDeployment {
  dir: string;
  markers: string;
  configFile: string;
  env: NodeJS.ProcessEnv;
}

/** Writes an orchestrator config for the given services into a fresh temp dir. */
export function deployment(opts: {
  natsUrl: string;
  databaseUrl: string;
  schema?: string;
  leaseMs?: number;
  maxConcurrentJobs?: number;
}): TestDeployment {
  return writeDeployment("jetflow-orch-", {
    workflows: join(root, "integration/orchestrator/fixtures/workflows.ts"),
    database: { url: opts.databaseUrl, schema: opts.schema ?? "jetflow", migrate: true },
    nats: { servers: opts.natsUrl },
    jobs: { leaseMs: opts.leaseMs ?? 1500, maxDeliveries: 5 },
    host: { orchestrationIntervalMs: 200, jobPollIntervalMs: 200, maxConcurrentJobs: opts.maxConcurrentJobs ?? 4 },
    logLevel: "info",
  });
}

/**
 * A fresh temp dir holding `orchestrator.json` (`config`) and an empty markers file, with the env
 * that points the CLI (from source) and stage bodies at them: what every process test deploys.
 */
export function writeDeployment(prefix: string, config: Record<string, unknown>): TestDeployment {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const markers = join(dir, "markers.jsonl");
  writeFileSync(markers, "");
  const configFile = join(dir, "orchestrator.json");
  writeFileSync(configFile, JSON.stringify(config));
  return { dir, markers, configFile, env: { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1", JETFLOW_TEST_MARKERS: markers } };
}

/** Markers written by stage bodies (one JSON object per execution event). */
export function readMarkers(d: TestDeployment): Record<string, any>[] {
  return readFileSync(d.markers, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** Runs the `jetflow` CLI from source and resolves with its exit code and output (bounded). */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(root, "bin/jetflow.js"), ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`jetflow ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/**
 * Starts `jetflow orchestrator --config` and resolves once it logged "orchestrator started".
 * `opts.bin` runs another jetflow executable (e.g. one installed from the package) from `opts.cwd`.
 */
export async function startOrchestratorProcess(
  d: TestDeployment,
  timeoutMs = 30_000,
  opts: { bin?: string; cwd?: string } = {},
): Promise<OrchestratorProcess> {
  const child = spawn(process.execPath, [opts.bin ?? join(root, "bin/jetflow.js"), "orchestrator", "--config", d.configFile], {
    env: d.env,
    stdio: ["ignore", "pipe", "pipe"],
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  let log = "";
  child.stdout!.on("data", (c) => (log += c));
  child.stderr!.on("data", (c) => (log += c));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  await new Promise<void>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`orchestrator did not start in ${timeoutMs} ms:\n${log}`)), timeoutMs);
    const check = () => {
      if (log.includes("orchestrator started")) {
        clearTimeout(timer);
        resolvePromise();
      }
    };
    child.stderr!.on("data", check);
    child.stdout!.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`orchestrator exited with ${code} before starting:\n${log}`));
    });
  });
  return {
    child,
    pid: child.pid!,
    log: () => log,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
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
    pause: () => void child.kill("SIGSTOP"),
    resume: () => void child.kill("SIGCONT"),
  };
}

/** Polls `check` until it returns a value (bounded); for state that has no event to wait on. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

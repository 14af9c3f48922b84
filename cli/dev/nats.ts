/**
 * The NATS of `jetflow dev`: `nats-server` from PATH (or $JETFLOW_NATS_SERVER_BIN) in operator
 * mode with the accounts `jetflow creds init` wrote, JetStream stored in `<dir>/nats`; else a
 * `nats:2.10` container when a Docker engine answers; else a DevSetupError naming the install
 * commands. Never an in-memory stand-in: what runs here is what runs in production.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { choosePort, signalPid, waitForPort, waitGone } from "./net.js";
import { DevSetupError } from "./errors.js";

/** A running dev NATS server. */
export interface DevNats {
  url: string;
  source: string;
  /** The server process, for the exit hook (none for a container). */
  pid(): number | undefined;
  stop(): Promise<void>;
}

/** What to do when no nats-server can be found (printed, then `jetflow dev` exits 1). */
export function natsInstallHint(looked: string[]): string {
  const offPath = ["/usr/sbin/nats-server", "/usr/local/bin/nats-server", "/opt/homebrew/bin/nats-server"].filter(
    (p) => !looked.includes(p) && existsSync(p),
  );
  return [
    "jetflow dev needs a NATS server with JetStream and found none:",
    `  no executable nats-server in PATH (${looked.length} directories) and no Docker engine answered.`,
    ...(offPath.length
      ? [`  ${offPath[0]} exists but is not on your PATH: export PATH="$PATH:${offPath[0]!.replace(/\/nats-server$/, "")}"`]
      : []),
    "Install one of these, then run jetflow dev again:",
    "  Debian/Ubuntu:  sudo apt-get install -y nats-server",
    "  macOS:          brew install nats-server",
    "  Docker:         start a Docker engine (jetflow dev then runs nats:2.10 itself)",
    "  any OS:         download a release from https://github.com/nats-io/nats-server/releases and put nats-server on PATH",
    "  (or set JETFLOW_NATS_SERVER_BIN=/path/to/nats-server)",
    "Or use a server you already run: jetflow dev --nats-url nats://host:4222 (JetStream enabled)",
  ].join("\n");
}

/** $JETFLOW_NATS_SERVER_BIN when set, else the first executable nats-server on PATH. */
export function findNatsServer(): { bin?: string; looked: string[] } {
  const explicit = process.env.JETFLOW_NATS_SERVER_BIN;
  const looked = explicit
    ? [explicit]
    : (process.env.PATH ?? "")
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, "nats-server"));
  for (const c of looked) {
    try {
      accessSync(c, constants.X_OK);
      return { bin: c, looked };
    } catch {
      // not here: the next directory is tried; all of them are reported when none has it
    }
  }
  return { looked };
}

/**
 * Starts the dev NATS server. `authConfig` is the text of the `resolver.conf` that
 * `jetflow creds init` wrote (operator, accounts, resolver); `dir` holds config, store and log.
 */
export async function startDevNats(dir: string, preferredPort: number, authConfig: string): Promise<DevNats> {
  const home = join(dir, "nats");
  mkdirSync(home, { recursive: true });
  const { bin, looked } = findNatsServer();
  if (!bin) return startContainer(authConfig, looked);

  const pidFile = join(home, "nats-server.pid");
  if (existsSync(pidFile)) {
    // A server a killed `jetflow dev` left behind holds the store's lock.
    const stale = Number(readFileSync(pidFile, "utf8").trim());
    if (stale > 0 && signalPid(stale, 0)) {
      signalPid(stale, "SIGTERM");
      await waitGone(stale, 10_000);
    }
  }
  const { port } = await choosePort(preferredPort);
  const confPath = join(home, "nats-server.conf");
  writeFileSync(
    confPath,
    [
      "# written by `jetflow dev` on every start; edit the command's flags, not this file",
      `listen: 127.0.0.1:${port}`,
      `pid_file: "${pidFile}"`,
      `jetstream { store_dir: "${join(home, "jetstream")}" }`,
      "",
      authConfig,
      "",
    ].join("\n"),
  );
  const logStream = createWriteStream(join(home, "nats-server.log"), { flags: "a" });
  let recent = "";
  // Its own process group: a Ctrl+C in the terminal reaches only `jetflow dev`, which stops the
  // server after the orchestrator and workers are done with it (the exit hook covers crashes).
  const child: ChildProcess = spawn(bin, ["-c", confPath], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  const keep = (d: Buffer) => {
    logStream.write(d);
    recent = (recent + d.toString()).slice(-4000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  let exitReason: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exitReason = `nats-server exited (code ${code}, signal ${signal})`;
      resolve();
    });
    child.once("error", (err) => {
      exitReason = `nats-server could not be started: ${err.message}`;
      resolve();
    });
  });
  try {
    await waitForPort(port, { greeting: "INFO ", deadlineMs: 15_000, abort: () => exitReason });
  } catch (err) {
    if (child.exitCode === null) child.kill("SIGKILL");
    await exited;
    logStream.end();
    throw new DevSetupError(`${bin} did not start: ${(err as Error).message}\n--- nats-server log ---\n${recent.trim()}`);
  }
  let stopping: Promise<void> | undefined;
  return {
    url: `nats://127.0.0.1:${port}`,
    source: bin,
    pid: () => (child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
          await exited;
          clearTimeout(timer);
        }
        await new Promise<void>((r) => logStream.end(r));
      })()),
  };
}

/** Docker fallback: `nats:2.10` with the same operator config, its client port mapped to a free one. */
async function startContainer(authConfig: string, looked: string[]): Promise<DevNats> {
  let tc: typeof import("testcontainers");
  try {
    tc = await import("testcontainers");
  } catch {
    throw new DevSetupError(natsInstallHint(looked)); // testcontainers is a dev dependency: absent in an installed package
  }
  try {
    await tc.getContainerRuntimeClient();
  } catch {
    throw new DevSetupError(natsInstallHint(looked));
  }
  const config = [
    "listen: 0.0.0.0:4222",
    'jetstream { store_dir: "/data/jetstream" }',
    "",
    authConfig.replace(/dir: "[^"]*"/, 'dir: "/data/jwt"'),
  ].join("\n");
  const container = await new tc.GenericContainer("nats:2.10")
    .withCopyContentToContainer([{ content: config, target: "/etc/nats/jetflow.conf" }])
    .withCommand(["-c", "/etc/nats/jetflow.conf"])
    .withExposedPorts(4222)
    .withWaitStrategy(tc.Wait.forLogMessage(/Server is ready/))
    .start();
  let stopping: Promise<void> | undefined;
  return {
    url: `nats://${container.getHost()}:${container.getMappedPort(4222)}`,
    source: "docker nats:2.10",
    pid: () => undefined,
    stop: () => (stopping ??= container.stop().then(() => undefined)),
  };
}

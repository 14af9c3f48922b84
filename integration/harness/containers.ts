/**
 * The testcontainers strategy. testcontainers is imported lazily (it costs ~0.5 s) and only
 * after the env-URL strategy did not apply; the "is there a Docker engine" answer is cached
 * per process because it cannot change during a test file.
 */
import type { NatsService, UseNatsOptions } from "./types.js";

type Testcontainers = typeof import("testcontainers");

let probe: Promise<{ tc: Testcontainers } | { reason: string }> | undefined;

/** Resolves the testcontainers module when a container engine answers, else why not. */
export function containerRuntime(): Promise<{ tc: Testcontainers } | { reason: string }> {
  if (process.env.JETFLOW_TEST_NO_CONTAINERS) {
    return Promise.resolve({ reason: "containers disabled by JETFLOW_TEST_NO_CONTAINERS" });
  }
  probe ??= (async () => {
    try {
      const tc = await import("testcontainers");
      await tc.getContainerRuntimeClient();
      return { tc };
    } catch (err) {
      return { reason: `no container runtime (${(err as Error).message})` };
    }
  })();
  return probe;
}

/** Starts `nats:2.10` with JetStream (and the caller's config) in a container. */
export async function natsContainer(tc: Testcontainers, opts: UseNatsOptions): Promise<NatsService> {
  const conf = ["listen: 0.0.0.0:4222", opts.jetstream === false ? "" : 'jetstream { store_dir: "/data" }', opts.config ?? ""].join("\n");
  const container = await new tc.GenericContainer("nats:2.10")
    .withCopyContentToContainer([{ content: conf, target: "/etc/nats/jetflow.conf" }])
    .withCommand(["-c", "/etc/nats/jetflow.conf"])
    .withExposedPorts(4222)
    .withWaitStrategy(tc.Wait.forLogMessage(/Server is ready/))
    .withStartupTimeout(60_000)
    .start();
  let stopped = false;
  return {
    url: `nats://${container.getHost()}:${container.getMappedPort(4222)}`,
    source: "container",
    async stop() {
      if (stopped) return;
      stopped = true;
      await container.stop({ timeout: 0 });
    },
  };
}

/**
 * Starts `postgres:16` and returns its admin URL plus a stopper; the caller creates the
 * fresh database inside it, like for every other source.
 */
export async function postgresContainer(tc: Testcontainers): Promise<{ adminUrl: string; stop(): Promise<void> }> {
  const container = await new tc.GenericContainer("postgres:16")
    .withEnvironment({ POSTGRES_PASSWORD: "postgres", POSTGRES_HOST_AUTH_METHOD: "trust" })
    .withCommand(["postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
    .withExposedPorts(5432)
    // The entrypoint starts a temporary server for initdb first: wait for the second "ready".
    .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .withStartupTimeout(60_000)
    .start();
  return {
    adminUrl: `postgres://postgres:postgres@${container.getHost()}:${container.getMappedPort(5432)}/postgres`,
    async stop() {
      await container.stop({ timeout: 0 });
    },
  };
}

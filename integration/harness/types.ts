/**
 * The shapes every integration test codes against. Kept apart from the resolvers so a
 * test (or another harness module such as `s3.ts`) can import the types without
 * pulling in testcontainers or child_process.
 */

/** Services the harness can provide. */
export type ServiceName = "nats" | "postgres" | "s3";

/**
 * Where a service came from:
 * - `env`: a URL the caller exported (JETFLOW_TEST_*_URL); the harness never stops that server.
 * - `container`: a testcontainers container started for this call.
 * - `local`: a process the harness started itself (or, for Postgres, the machine's own server).
 */
export type ServiceSource = "env" | "container" | "local";

/** A NATS server for one test file (or one test). */
export interface NatsService {
  /** `nats://127.0.0.1:<port>` — pass to `connect({ servers: url })`. */
  url: string;
  source: ServiceSource;
  /**
   * Releases the server. For `local` (and `container`) it kills the server process, so a test
   * can simulate an outage; idempotent. For `env` it does nothing: the server is not ours.
   */
  stop(): Promise<void>;
  /**
   * `local` only: SIGKILLs the server and starts it again on the same port with the same
   * JetStream store (streams and unacked messages survive), for reconnect/outage tests.
   * Resolves once the server accepts connections again.
   */
  restart?(): Promise<void>;
}

/** A Postgres database that no other caller sees. */
export interface PostgresService {
  /** Connection URL of the fresh database: `postgres://user@host:port/<database>`. */
  url: string;
  /** A fresh, empty database, unique to this call (`jetflow_t_<random>`). */
  database: string;
  source: ServiceSource;
  /** Drops the database (WITH (FORCE)) and stops any server the harness started; idempotent. */
  stop(): Promise<void>;
  /** Admin URL of the same server (database `postgres`), for pg_terminate_backend and the like. */
  adminUrl: string;
}

/** Options for {@link import("./nats.js").useNats}. */
export interface UseNatsOptions {
  /**
   * Full nats-server config text appended to the generated one (after `listen` and
   * `jetstream`). Forces a dedicated local server even when JETFLOW_TEST_NATS_URL is set,
   * because a shared server cannot take per-test accounts or permissions.
   */
  config?: string;
  /** Enable JetStream (default true). */
  jetstream?: boolean;
}

/** Thrown (and, outside CI, turned into a skip) when no strategy could provide a service. */
export class ServiceUnavailableError extends Error {
  override readonly name = "ServiceUnavailableError";
  constructor(
    readonly service: ServiceName,
    /** One line per strategy tried, saying why it did not work. */
    readonly tried: string[],
    /** What a developer can do to get the service. */
    readonly remedy: string,
  ) {
    super(`${service} is unavailable for integration tests.\n  tried:\n${tried.map((t) => `    - ${t}`).join("\n")}\n  to fix: ${remedy}`);
  }
}

/**
 * An S3-compatible endpoint with one bucket, provided by `useS3()` in `./s3.ts` (owned by the
 * s3 engineer). This is the shape `services(["s3"])` hands out; s3.ts implements it.
 */
export interface S3Service {
  /** e.g. `http://127.0.0.1:<port>`; use path-style addressing. */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A bucket that exists and is unique to this call. */
  bucket: string;
  source: ServiceSource;
  stop(): Promise<void>;
}

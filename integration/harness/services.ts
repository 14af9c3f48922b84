/**
 * `services([...])`: what an integration test file calls once at the top. Resolves every
 * requested service, or explains loudly why it cannot and returns null (outside CI) so the
 * file registers its tests as skipped; in CI a missing service fails the run instead.
 */
import { relative } from "node:path";
import { inCI } from "./lifecycle.js";
import { useNats } from "./nats.js";
import { usePostgres } from "./postgres.js";
import { ServiceUnavailableError, type NatsService, type PostgresService, type S3Service, type ServiceName } from "./types.js";

/** Service type by name. */
export interface ServiceMap {
  nats: NatsService;
  postgres: PostgresService;
  s3: S3Service;
}

/** The services a file asked for (non-optional), plus one `stop()` for all of them. */
export type Services<K extends ServiceName> = Partial<ServiceMap> & { [P in K]: ServiceMap[P] } & {
  /** Stops every service in reverse order of start; idempotent; reports all failures. */
  stop(): Promise<void>;
};

/**
 * `useS3` lives in ./s3.ts, written by the s3 engineer. Loading it by a computed specifier
 * keeps this module compiling (and nats/postgres working) before that file exists.
 */
async function useS3Lazily(): Promise<S3Service> {
  const specifier = "./s3.js";
  let mod: { useS3?: () => Promise<S3Service> };
  try {
    mod = (await import(specifier)) as typeof mod;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ERR_MODULE_NOT_FOUND") throw err;
    throw new ServiceUnavailableError("s3", ["integration/harness/s3.ts: not written yet"], "wait for the s3 harness (useS3) to land");
  }
  if (typeof mod.useS3 !== "function") throw new Error("integration/harness/s3.ts does not export useS3()");
  return mod.useS3();
}

const resolvers: { [P in ServiceName]: () => Promise<ServiceMap[P]> } = {
  nats: () => useNats(),
  postgres: () => usePostgres(),
  s3: useS3Lazily,
};

function banner(file: string, errors: ServiceUnavailableError[]): string {
  const line = "=".repeat(78);
  return [
    "",
    line,
    `SKIPPING integration tests in ${file}: required services are unavailable`,
    ...errors.map((e) => e.message),
    "(in CI, i.e. with CI=true, this is a failure instead of a skip)",
    line,
    "",
  ].join("\n");
}

/**
 * Resolves `names` concurrently. If any is unavailable: stops the others, then returns null
 * after printing what was tried and how to fix it (outside CI) or throws (in CI). Any other
 * error (a server that exists but fails to start) always throws.
 */
export async function services<K extends ServiceName>(names: K[]): Promise<Services<K> | null> {
  const unique = [...new Set(names)];
  const settled = await Promise.allSettled(unique.map((n) => resolvers[n]()));
  const started: { name: ServiceName; svc: { stop(): Promise<void> } }[] = [];
  const unavailable: ServiceUnavailableError[] = [];
  const failures: unknown[] = [];
  settled.forEach((r, i) => {
    if (r.status === "fulfilled") started.push({ name: unique[i]!, svc: r.value });
    else if (r.reason instanceof ServiceUnavailableError) unavailable.push(r.reason);
    else failures.push(r.reason);
  });

  const stopAll = async (): Promise<void> => {
    const results = await Promise.allSettled(started.reverse().map((s) => s.svc.stop()));
    started.length = 0;
    const errs = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    if (errs.length === 1) throw errs[0];
    if (errs.length > 1) throw new AggregateError(errs, "stopping integration services failed");
  };

  if (failures.length > 0 || unavailable.length > 0) {
    await stopAll();
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, "starting integration services failed");
    if (inCI())
      throw unavailable.length === 1 ? unavailable[0] : new AggregateError(unavailable, unavailable.map((e) => e.message).join("\n"));
    const file = process.argv[1] ? relative(process.cwd(), process.argv[1]) : "this file";
    process.stderr.write(banner(file, unavailable));
    return null;
  }

  const out: Record<string, unknown> = { stop: stopAll };
  for (const s of started) out[s.name] = s.svc;
  return out as Services<K>;
}

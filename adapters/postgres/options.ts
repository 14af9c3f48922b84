/**
 * Options of the Postgres adapters: one defaults literal and one strict schema each, parsed once
 * when the component is created (src/contract/options.ts), so a misspelt option is refused
 * with a ValidationError instead of silently taking its default.
 */
import { z } from "zod";
import { parseOptions, positiveInt, withMethods } from "../../src/contract/options.js";
import type { Clock } from "../../src/ports/clock.js";
import { systemClock } from "../../src/ports/clock.js";
import { type Logger, silentLogger } from "../../src/ports/logger.js";

/** Every default of the Postgres adapters, by name. */
export const POSTGRES_DEFAULTS = {
  /** Schema holding jetflow's tables. */
  schema: "jetflow",
  /** How long a job delivery is leased before releaseStale may redeliver it. */
  leaseMs: 30_000,
  /** Deliveries after which a job is dead-lettered. */
  maxDeliveries: 5,
} as const;

/** Schema names are spliced into SQL text, so only plain identifiers are accepted. */
export const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const schema = z
  .string()
  .regex(SCHEMA_NAME, "must be a plain identifier (letters, digits, underscore; at most 63)")
  .default(POSTGRES_DEFAULTS.schema);

const schemaOnly = z.object({ schema });

const jobTransport = z.object({
  schema,
  leaseMs: positiveInt.default(POSTGRES_DEFAULTS.leaseMs),
  maxDeliveries: positiveInt.default(POSTGRES_DEFAULTS.maxDeliveries),
  // No default: without it the wait cap depends on whether LISTEN works (see job-waiters.ts).
  pollIntervalMs: positiveInt.optional(),
  clock: withMethods<Clock>("a Clock", "now").default(systemClock),
  logger: withMethods<Logger>("a Logger", "warn", "error").default(silentLogger),
});

const migrate = z.object({ schema, dir: z.string().min(1).optional() });

/** @throws ValidationError naming each bad or unknown option. */
export const parseSchemaOnlyOptions = (what: string, opts: unknown) => parseOptions(what, schemaOnly, opts);
/** @throws ValidationError naming each bad or unknown option. */
export const parseJobTransportOptions = (opts: unknown) => parseOptions("Postgres job transport", jobTransport, opts);
/** @throws ValidationError naming each bad or unknown option. */
export const parseMigrateOptions = (opts: unknown) => parseOptions("migrate", migrate, opts);

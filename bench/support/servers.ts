/**
 * Servers for the benches, with the settings that decide commit cost stated in the output.
 *
 * Postgres: a fresh database from the integration harness, but never a harness container (those
 * run with fsync=off) unless JETFLOW_TEST_DATABASE_URL points somewhere; synchronous_commit is set
 * on for the database so a throwaway cluster (fsync=off) cannot hide it either. When fsync is off
 * anyway, the settings line says so loudly.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import postgres from "postgres";
import { usePostgres, type PostgresService } from "../../integration/harness/index.js";

export interface BenchPostgres extends PostgresService {
  /** e.g. "postgres 15.20 local, fsync=on synchronous_commit=on full_page_writes=on". */
  settings: string;
  durable: boolean;
}

/** A fresh database on a server with fsync and synchronous_commit on (or a warning saying otherwise). */
export async function benchPostgres(): Promise<BenchPostgres> {
  // The harness's container strategy turns fsync off; a bench must measure real commits.
  if (!process.env.JETFLOW_TEST_DATABASE_URL) process.env.JETFLOW_TEST_NO_CONTAINERS = "1";
  const pg = await usePostgres();
  const sql = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`alter database "${pg.database}" set synchronous_commit = on`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  const db = postgres(pg.url, { max: 1, onnotice: () => {} });
  try {
    const [r] = await db<{ v: string; fsync: string; sc: string; fpw: string }[]>`
      select current_setting('server_version') as v, current_setting('fsync') as fsync,
             current_setting('synchronous_commit') as sc, current_setting('full_page_writes') as fpw`;
    const durable = r!.fsync === "on" && r!.sc === "on";
    const settings =
      `postgres ${r!.v} (${pg.source}), fsync=${r!.fsync} synchronous_commit=${r!.sc} full_page_writes=${r!.fpw}` +
      (durable ? "" : "  ** NOT DURABLE: commit cost is hidden, numbers flatter Postgres-backed systems **");
    return { ...pg, settings, durable };
  } finally {
    await db.end({ timeout: 5 });
  }
}

/** "nats-server 2.9.10, JetStream file storage ..." for the settings lines of a bench. */
export function natsSettings(nc: NatsConnection): string {
  return `nats-server ${nc.info?.version ?? "?"}, JetStream file storage for every bench stream (asserted as each is created; the server syncs files on its interval, not per message)`;
}

/** Throws unless every named stream is on file storage: memory streams would flatter whichever side got them. */
export async function assertFileStorage(nc: NatsConnection, streams: string[]): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const s of streams) {
    const { storage } = (await jsm.streams.info(s)).config;
    if (storage !== "file") throw new Error(`bench stream ${s} has ${storage} storage, want file`);
  }
}

/**
 * Options of every NATS connection a bench opens, jetflow's and the baselines' alike: what
 * `connectNats` gives every jetflow process (no async stack trace built per request), so neither
 * side pays for Errors the other does not.
 */
export const NATS_CLIENT = { noAsyncTraces: true } as const;

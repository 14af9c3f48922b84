/**
 * A secret shared by every orchestrator on one database: the first caller stores the value it
 * generated, every later caller (in any process) reads that one. So several orchestrators agree on,
 * e.g., the key of multipart upload tickets with nothing to configure.
 */
import type postgres from "postgres";
import { tables } from "./tables.js";

/**
 * The secret named `name`, created from `generate()` if this database has none yet. One statement
 * for the insert race (`on conflict do nothing`), one to read the winner.
 */
export async function sharedSecret(sql: postgres.Sql, schema: string, name: string, generate: () => string): Promise<string> {
  const table = tables(sql, schema).sharedSecrets;
  await sql`insert into ${table} (name, value) values (${name}, ${generate()}) on conflict (name) do nothing`;
  const rows = await sql<{ value: string }[]>`select value from ${table} where name = ${name}`;
  return rows[0]!.value;
}

/**
 * A dedicated nats-server running the repository's own nats-server.conf (scoped users), for tests
 * that must prove the shipped permissions: the harness supplies listen/jetstream lines, the
 * file supplies everything else, unchanged.
 */
import { readFileSync } from "node:fs";
import * as assert from "uvu/assert";
import { inCI } from "./lifecycle.js";
import { useNats } from "./nats.js";
import { ServiceUnavailableError, type NatsService } from "./types.js";

/** Passwords the test server reads from its environment (`$JETFLOW_*_PASSWORD` in the conf). */
export const REPO_NATS_PASSWORDS = {
  JETFLOW_ORCHESTRATOR_PASSWORD: "orch-secret",
  JETFLOW_OPERATOR_PASSWORD: "op-secret",
  JETFLOW_WORKER_DEFAULT_PASSWORD: "worker-secret",
} as const;

/** The repo config without the server-level lines the harness generates itself. */
export function repoNatsConfig(): string {
  return readFileSync(new URL("../../nats-server.conf", import.meta.url), "utf8")
    .split("\n")
    .filter((l) => !/^\s*listen\s*:/.test(l) && !/^\s*jetstream\s*\{/.test(l))
    .join("\n");
}

/**
 * Starts nats-server with the repo config (null = skipped outside CI, loudly, naming `who`).
 * The passwords are put in this process's environment, which the spawned server inherits.
 */
export async function useRepoNats(who: string): Promise<NatsService | null> {
  Object.assign(process.env, REPO_NATS_PASSWORDS);
  try {
    return await useNats({ config: repoNatsConfig() });
  } catch (err) {
    if (!(err instanceof ServiceUnavailableError) || inCI()) throw err;
    console.warn(`SKIP ${who}: ${err.message}`);
    return null;
  }
}

/** Asserts that `p` (a NATS request or publish) was refused by the server's permissions, naming `what`. */
export async function assertDenied(p: Promise<unknown>, what: string): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e as Error,
  );
  if (!err) assert.unreachable(`${what} was allowed`);
  assert.match(String(err!.message), /permissions violation/i, `${what}: ${String(err)}`);
}

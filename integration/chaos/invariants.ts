// Checks shared by the chaos suites (single server and cluster): what "no outcome lost or doubled"
// means, read from Postgres, the stage bodies' markers and the events stream.
import type postgres from "postgres";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { JetflowClient } from "../../adapters/jetstream/api/client.js";
import { readMarkers, until, type TestDeployment } from "../orchestrator/support.js";

/**
 * Runs where some delivery attempt's body started more often than the run has remote tasks: per run
 * and delivery attempt, at most one start per task of the run (a stage retried by the kernel gets a
 * new task, whose deliveries count from 1 again). Also returns the task count per run.
 */
export async function attemptsRunTwice(
  sql: postgres.Sql,
  d: TestDeployment,
): Promise<{ twice: string[]; taskCounts: Map<string, number> }> {
  const taskCounts = new Map(
    (await sql<{ run_id: string; n: number }[]>`select run_id, count(*)::int as n from jetflow.activity_tasks group by run_id`).map(
      (r) => [r.run_id, r.n] as const,
    ),
  );
  const starts = new Map<string, number>();
  for (const m of readMarkers(d).filter((m) => m.event === "start")) {
    const k = `${m.runId}#${m.attempt}`;
    starts.set(k, (starts.get(k) ?? 0) + 1);
  }
  const twice = [...starts].filter(([k, n]) => n > (taskCounts.get(k.split("#")[0]!) ?? 1)).map(([k]) => k.split("#")[0]!);
  return { twice, taskCounts };
}

/**
 * (run, stage, kind) keys with more than one distinct terminal event id among `runIds`: an outcome
 * replayed keeps its id, a second outcome has a new one. Reads the whole JETFLOW_EVENTS stream once.
 */
export async function terminalEventsTwice(nc: NatsConnection, runIds: string[]): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const js = jsm.jetstream();
  const consumer = await js.consumers.get("JETFLOW_EVENTS"); // ordered, ephemeral
  const info = await jsm.streams.info("JETFLOW_EVENTS");
  const ids = new Map<string, Set<string>>();
  const want = new Set(runIds);
  const terminalTypes = new Set(["stage:completed", "stage:failed", "workflow:completed", "workflow:failed", "workflow:cancelled"]);
  let seen = 0;
  const messages = await consumer.fetch({ max_messages: info.state.messages, expires: 30_000 });
  for await (const m of messages) {
    seen++;
    const e = m.json<{ id: string; type: string; workflowRunId: string; stageId?: string }>();
    if (want.has(e.workflowRunId) && terminalTypes.has(e.type)) {
      const k = `${e.workflowRunId}/${e.stageId ?? "run"}/${e.type.split(":")[0]}`;
      (ids.get(k) ?? ids.set(k, new Set()).get(k)!).add(e.id);
    }
    if (seen >= info.state.messages) break;
  }
  return [...ids].filter(([, s]) => s.size > 1).map(([k]) => k);
}

/**
 * runs.create of the artifact workflow with an idempotency key, retried through outages (NATS or
 * Postgres down, a leader election, no orchestrator answering yet) for up to `boundMs`: the retry
 * must find the same run.
 */
export function submitRetrying(client: JetflowClient, key: string, holdMs: number, boundMs: number): Promise<string> {
  return until(
    `runs.create ${key} to be accepted`,
    async () => {
      try {
        const r = await client.createRun({
          workflowId: "artifact-roundtrip",
          input: { inputBytes: 1024, outputBytes: 4096, holdMs },
          idempotencyKey: key,
        });
        return r.workflowRunId;
      } catch {
        return null; // an outage: the same key again
      }
    },
    boundMs,
    200,
  );
}

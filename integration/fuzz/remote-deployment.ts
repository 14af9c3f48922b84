// An orchestrator config for the artifact round-trip workflow (local → remote → local) on the
// repository's nats-server.conf users, written into a fresh directory: shared by the fuzz and
// chaos suites, which start orchestrator and worker processes on it.
import { REPO_NATS_PASSWORDS, type NatsService, type S3Service, orchestratorS3Config } from "../harness/index.js";
import { writeDeployment, type TestDeployment } from "../orchestrator/support.js";

/** Writes orchestrator.json and an empty markers file into a fresh directory. */
export function remoteDeployment(o: {
  /** `url` may list several servers, comma-separated (a cluster). */
  nats: Pick<NatsService, "url">;
  databaseUrl: string;
  s3: S3Service;
  leaseMs?: number;
  healthPort?: number;
  /** The kernel's JobTransport (orchestrator `jobs.transport`). Default jetstream. */
  transport?: "jetstream" | "postgres";
  /** `nats.replicas` of the orchestrator (3 on a cluster); unset keeps what exists. */
  replicas?: number;
  /** `remote.republishAfterMs`: a task whose dispatch was lost (e.g. in a leader election) is re-published after this. */
  republishAfterMs?: number;
}): TestDeployment {
  return writeDeployment("jetflow-fuzz-", {
    workflows: new URL("../remote/fixtures/artifact-workflows.ts", import.meta.url).pathname,
    database: { url: o.databaseUrl, migrate: true },
    nats: {
      servers: o.nats.url,
      user: "orchestrator",
      password: REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD,
      ...(o.replicas ? { replicas: o.replicas } : {}),
    },
    // A short job lease, so a kill -9'd orchestrator's jobs go to the other one within seconds.
    jobs: { transport: o.transport ?? "jetstream", leaseMs: 3_000, maxDeliveries: 20 },
    host: { orchestrationIntervalMs: 200, jobPollIntervalMs: 200, staleLeaseThresholdMs: 10_000, stuckRunThresholdMs: 15_000 },
    s3: orchestratorS3Config(o.s3),
    remote: {
      leaseMs: o.leaseMs ?? 2_000,
      queues: [{ queue: "default", codeVersion: "v1", maxDeliver: 5 }],
      reapIntervalMs: 500,
      // A task no delivery can reach any more (deliveries spent on starts refused during faults)
      // is published again after this long, well inside the stage's maxWait.
      republishAfterMs: 10_000,
      reportPollMs: 200,
      ...(o.republishAfterMs ? { republishAfterMs: o.republishAfterMs } : {}),
    },
    logLevel: "info",
    ...(o.healthPort ? { healthPort: o.healthPort } : {}),
  });
}

/** `jetflow worker` flags of the scoped `worker-default` user for the artifact stages. */
export function remoteWorkerArgs(nats: Pick<NatsService, "url">, heartbeatMs = 500): string[] {
  return [
    "--queue",
    "default",
    "--code-version",
    "v1",
    "--module",
    new URL("../remote/fixtures/artifact-stages.ts", import.meta.url).pathname,
    "--servers",
    nats.url,
    "--user",
    "worker-default",
    "--password",
    REPO_NATS_PASSWORDS.JETFLOW_WORKER_DEFAULT_PASSWORD,
    "--heartbeat-ms",
    String(heartbeatMs),
    "--poll-ms",
    "500",
  ];
}

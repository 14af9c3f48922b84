import type { WorkflowEvent, WorkflowEventType } from "../ports/event-sink.js";
import type { JobSpec } from "../ports/job-transport.js";
import type { NewOutboxRow, PersistenceTx } from "../ports/persistence.js";
import type { OutboxRecord, RunRecord } from "../ports/records.js";
import { type KernelDeps, errorMessage } from "./deps.js";
import { countRunTransition, recordOutboxLag } from "../contract/metrics.js";

/**
 * Collects the outbox rows a command writes inside its transaction. Rows are inserted
 * pre-claimed by this writer so no flusher races the fast path; after commit the writer
 * delivers them itself (`deliverFastPath`).
 */
export class OutboxBatch {
  readonly rows: NewOutboxRow[] = [];
  constructor(
    // Only ids and the claim length: a grant pass can run over a bare store (the conformance suite).
    private readonly deps: Pick<KernelDeps, "newId"> & { options: Pick<KernelDeps["options"], "outboxClaimMs"> },
    private readonly now: Date,
  ) {}

  private claim(): Date {
    return new Date(this.now.getTime() + this.deps.options.outboxClaimMs);
  }

  /** Queues an event about `run` (optionally one of its stages). */
  event(run: Pick<RunRecord, "id" | "workflowId">, type: WorkflowEventType, data: Record<string, unknown> = {}, stageId?: string): void {
    const id = this.deps.newId();
    const event: WorkflowEvent = {
      id,
      type,
      workflowRunId: run.id,
      workflowId: run.workflowId,
      timestamp: this.now.toISOString(),
      data,
    };
    if (stageId !== undefined) event.stageId = stageId;
    this.rows.push({
      id,
      kind: "event",
      workflowRunId: run.id,
      type,
      payload: event as unknown as Record<string, unknown>,
      createdAt: this.now,
      claimedUntil: this.claim(),
    });
  }

  /** Queues a job for the transport (dates serialised as ISO strings). */
  job(spec: JobSpec): void {
    const payload: Record<string, unknown> = { ...spec };
    if (spec.availableAt) payload.availableAt = spec.availableAt.toISOString();
    this.rows.push({
      id: this.deps.newId(),
      kind: "job",
      workflowRunId: spec.workflowRunId,
      type: "job",
      payload,
      createdAt: this.now,
      claimedUntil: this.claim(),
    });
  }

  /** Inserts the collected rows inside the command's transaction. */
  async write(tx: PersistenceTx): Promise<void> {
    if (this.rows.length > 0) await tx.appendOutbox(this.rows);
  }
}

/** The deterministic job id every transport de-duplicates on. */
export function jobIdOf(runId: string, stageId: string, attempt: number): string {
  return `${runId}:${stageId}:${attempt}`;
}

/** Rebuilds a JobSpec from an outbox payload (ISO dates back to Date). */
export function jobFromPayload(payload: Record<string, unknown>): JobSpec {
  const spec = { ...payload } as unknown as JobSpec & { availableAt?: Date | string };
  if (typeof spec.availableAt === "string") spec.availableAt = new Date(spec.availableAt);
  return spec as JobSpec;
}

/** Delivers one outbox row to where it belongs. Throws when delivery failed. */
async function deliverOne(deps: KernelDeps, row: Pick<OutboxRecord, "kind" | "payload">): Promise<void> {
  if (row.kind === "job") {
    await deps.jobTransport.enqueue([jobFromPayload(row.payload)]);
  } else {
    await deps.eventSink.publish(row.payload as unknown as WorkflowEvent);
  }
}

export interface DeliveryReport {
  published: number;
  failed: number;
  deadLettered: number;
}

/**
 * Delivers rows and records the outcome of each. Failures are recorded on the row (and
 * dead-lettered once `outboxMaxAttempts` is reached), never thrown.
 */
export async function deliverRows(
  deps: KernelDeps,
  rows: (Pick<OutboxRecord, "id" | "kind" | "type" | "payload" | "attempts" | "workflowRunId"> & { createdAt?: Date })[],
  marks: "now" | "batched" = "now",
): Promise<DeliveryReport> {
  const report: DeliveryReport = { published: 0, failed: 0, deadLettered: 0 };
  const published: string[] = [];
  for (const row of rows) {
    try {
      await deliverOne(deps, row);
      published.push(row.id);
      if (row.createdAt) recordOutboxLag(Math.max(0, deps.clock.now().getTime() - row.createdAt.getTime()) / 1000, row.kind);
    } catch (err) {
      const deadLetter = row.attempts + 1 >= deps.options.outboxMaxAttempts;
      report.failed++;
      if (deadLetter) report.deadLettered++;
      deps.logger.warn(
        {
          outboxId: row.id,
          kind: row.kind,
          type: row.type,
          workflowRunId: row.workflowRunId,
          attempt: row.attempts + 1,
          deadLetter,
          err: errorMessage(err),
        },
        "outbox delivery failed",
      );
      await deps.persistence.markOutboxFailed(row.id, errorMessage(err), deps.clock.now(), deadLetter);
    }
  }
  if (published.length > 0) {
    if (marks === "batched") deps.outboxMarks.add(published);
    else await deps.persistence.markOutboxPublished(published, deps.clock.now());
    report.published = published.length;
  }
  return report;
}

/**
 * Fast path after a commit: delivers the batch at once and queues the published marks (see
 * OutboxMarks: they are written in batches, not one UPDATE per command). Never throws — the commit already
 * happened, so a failure here is the outbox's problem (outbox.flush retries), not the caller's.
 */
export async function deliverFastPath(deps: KernelDeps, batch: OutboxBatch): Promise<void> {
  if (batch.rows.length === 0) return;
  countRunTransitions(batch);
  try {
    await deliverRows(
      deps,
      batch.rows.map((r) => ({ ...r, attempts: 0 })),
      "batched",
    );
  } catch (err) {
    // Recording the failure itself failed (database gone): the claim expires and a flusher retries.
    deps.logger.error({ err: errorMessage(err), rows: batch.rows.length }, "outbox fast path could not record delivery");
  }
}

/** Counts the run-level events of a committed batch (every command calls the fast path once after commit). */
function countRunTransitions(batch: OutboxBatch): void {
  for (const row of batch.rows) {
    if (row.kind !== "event" || !row.type.startsWith("workflow:")) continue;
    countRunTransition(row.type.slice("workflow:".length), String((row.payload as { workflowId?: unknown }).workflowId ?? ""));
  }
}

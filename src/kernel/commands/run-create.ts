import type { RunCreateCommand, RunCreateResult } from "../commands.js";
import { annotationRows } from "../buffers.js";
import type { KernelDeps } from "../deps.js";
import type { NewRun } from "../../ports/persistence.js";
import { IdempotencyInProgressError, ValidationError, WorkflowNotFoundError } from "../../contract/errors.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { createAndStart } from "./run-create-start.js";
import { issuesFromZod } from "../../contract/validation.js";
import { SpanKind, inSpan } from "../../contract/spans.js";
import { carrierFromContext, contextFromCarrier } from "../../contract/trace-headers.js";

/** run.create: validates input and config, stores the run PENDING with its annotations. */
export async function runCreate(deps: KernelDeps, cmd: RunCreateCommand): Promise<RunCreateResult> {
  if (typeof cmd.idempotencyKey !== "string" || cmd.idempotencyKey === "") {
    throw new ValidationError("invalid run.create", [{ path: "idempotencyKey", message: "must be a non-empty string" }]);
  }
  const workflow = deps.registry.getWorkflow(cmd.workflowId);
  if (!workflow) throw new WorkflowNotFoundError(cmd.workflowId);

  // Validation runs before the key is taken, so a rejected request can be fixed and resent with the same key.
  const input = workflow.inputSchema.safeParse(cmd.input);
  if (!input.success) throw new ValidationError("invalid input", issuesFromZod(input.error, "input"));
  const config = workflow.validateConfig(cmd.config ?? {});
  if (!config.success) {
    throw new ValidationError(
      "invalid config",
      config.issues.map((i) => ({ path: ["config", i.stageId, i.path].filter(Boolean).join("."), message: i.message })),
    );
  }
  if (cmd.priority !== undefined && !Number.isInteger(cmd.priority)) {
    throw new ValidationError("invalid run.create", [{ path: "priority", message: "must be an integer" }]);
  }

  // The `run` span is the root of everything the run does later, in any process: its context is
  // persisted with the run (stage spans, jobs and tasks descend from it). Parent: the submitter's
  // carrier when given, else the active context (e.g. the API request's span).
  const parent = contextFromCarrier(cmd.traceContext);
  const attributes = { "jetflow.workflow.id": workflow.id };
  return inSpan("run", { kind: SpanKind.INTERNAL, attributes, parent }, async (span) => {
    const result = await create(deps, cmd, workflow.id, input.data, config.config, carrierFromContext() ?? cmd.traceContext ?? null);
    span.setAttribute("jetflow.run.id", result.workflowRunId);
    span.setAttribute("jetflow.run.created", result.created);
    return result;
  });
}

/**
 * The idempotency key is stored with its result in the same atomic write as the run (one
 * statement, or one transaction when there are annotations or the key exists), so key and run
 * commit together or not at all, and a concurrent create with the same key waits for that
 * write, then replays its result.
 */
async function create(
  deps: KernelDeps,
  cmd: RunCreateCommand,
  workflowId: string,
  input: unknown,
  config: Record<string, unknown>,
  traceContext: Record<string, string> | null,
): Promise<RunCreateResult> {
  const now = deps.clock.now();
  const id = deps.newId();
  const result: RunCreateResult = { workflowRunId: id, status: "PENDING", created: true };
  const rows = (cmd.annotations ?? []).flatMap((a) => annotationRows(deps, id, null, a, { kind: "system", id: "jetflow" }, now));
  const priority = cmd.priority ?? 0;
  const newRun = { id, workflowId, input, config, priority, traceContext, now };
  if (rows.length === 0 && (await createInOneWrite(deps, newRun, cmd.idempotencyKey, result))) return result;
  const batch = new OutboxBatch(deps, now);
  const replay = await deps.persistence.transaction(async (tx): Promise<RunCreateResult | null> => {
    const key = await tx.storeIdempotencyResult("run.create", cmd.idempotencyKey, result, now, {
      staleBefore: new Date(now.getTime() - deps.options.idempotencyStaleMs),
    });
    if (key.kind === "completed") return { ...(key.result as RunCreateResult), created: false };
    if (key.kind === "in_progress") throw new IdempotencyInProgressError("run.create", cmd.idempotencyKey);
    const created = await tx.createRun(newRun);
    if (rows.length > 0) await tx.insertAnnotations(rows);
    batch.event(created, "workflow:created", { input, priority: created.priority });
    await batch.write(tx);
    return null;
  });
  if (replay) return replay;
  await deliverFastPath(deps, batch);
  deps.onRunCreated?.(id);
  return result;
}

/**
 * The common case in one atomic write (no transaction round trips), started at once when a host
 * of this process takes it (run-create-start.ts). False when the key was seen before: the
 * transactional path replays it (or takes over an abandoned one).
 */
async function createInOneWrite(deps: KernelDeps, newRun: NewRun, idempotencyKey: string, result: RunCreateResult): Promise<boolean> {
  const key = { command: "run.create", key: idempotencyKey, result };
  const starter = deps.startOnCreate?.() ?? null;
  const workflow = starter ? deps.registry.getWorkflow(newRun.workflowId) : undefined;
  if (starter && workflow) {
    const r = await createAndStart(deps, workflow, newRun, key, starter);
    if (r !== null) return r !== "exists";
  }
  const fast = new OutboxBatch(deps, newRun.now);
  fast.event({ id: newRun.id, workflowId: newRun.workflowId }, "workflow:created", { input: newRun.input, priority: newRun.priority });
  if (!(await deps.persistence.createRunWithKey(newRun, key, fast.rows))) return false;
  await deliverFastPath(deps, fast);
  deps.onRunCreated?.(newRun.id);
  return true;
}

import type { AnyStage, StageContext, StageOutcome } from "../contract/stage-types.js";

/** What an executor needs to run one attempt of one stage. */
export interface ActivityRequest {
  workflowRunId: string;
  workflowId: string;
  stageId: string;
  attempt: number;
  stage: AnyStage;
  /** The kernel-built context (logs/annotations buffered, committed with the outcome). */
  context: StageContext<any, any, any>;
  /** Input and config already validated by the stage's schemas (serialisable). */
  input: unknown;
  config: unknown;
  /** Aborted when the run is cancelled or the kernel gives up on the attempt. */
  signal: AbortSignal;
}

/**
 * Runs a stage's `execute()`: in-process (`createLocalExecutor`) or on a remote worker
 * (`createRemoteExecutor`). Returning normally means the attempt produced an outcome;
 * throwing means the attempt failed and may be retried.
 */
export interface ActivityExecutor {
  execute(request: ActivityRequest): Promise<StageOutcome<unknown>>;
}

/**
 * `ctx.workflowContext`, `ctx.require` and `ctx.optional` of a remote attempt, shared by the
 * inline context (run-task.ts) and the activity thread's context so both fail the same way.
 */
import { NotAvailableRemotelyError } from "./errors.js";

export interface WorkflowContextAccess {
  workflowContext: Readonly<Record<string, unknown>>;
  require(stageId: string): never;
  optional(stageId: string): never;
}

/** Accessors over the task's `workflowContext` (absent unless the remote stage sets includeWorkflowContext). */
export function workflowContextAccess(
  ownStageId: string,
  context: Readonly<Record<string, unknown>> | null | undefined,
): WorkflowContextAccess {
  const wc = context ? Object.freeze({ ...context }) : undefined;
  const needContext = (call: string): Readonly<Record<string, unknown>> => {
    if (!wc)
      throw new NotAvailableRemotelyError(
        call,
        "the task carries no workflowContext (enable includeWorkflowContext on the remote stage, or pass the value in the stage input)",
      );
    return wc;
  };
  return {
    workflowContext: wc ?? Object.freeze({}),
    require(stageId: string) {
      const c = needContext(`ctx.require("${stageId}")`);
      if (!(stageId in c)) {
        throw new Error(
          `stage "${ownStageId}" requires the output of "${stageId}", which is not in the task's workflowContext (available: ${Object.keys(c).join(", ") || "none"})`,
        );
      }
      return c[stageId] as never;
    },
    optional(stageId: string) {
      return needContext(`ctx.optional("${stageId}")`)[stageId] as never;
    },
  };
}

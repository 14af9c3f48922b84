import type { AnyWorkflow } from "../builder/types.js";

/** Resolves workflow definitions by id. */
export interface WorkflowRegistry {
  getWorkflow(id: string): AnyWorkflow | undefined;
}

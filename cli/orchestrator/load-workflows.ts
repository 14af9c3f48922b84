import { pathToFileURL } from "node:url";
import type { AnyWorkflow } from "../../src/builder/types.js";
import type { WorkflowRegistry } from "../../src/ports/registry.js";

/**
 * Imports a module exporting `workflows` (an array of built workflows) or a default export of one,
 * and returns a registry over them. Duplicate ids are refused: two definitions of one id would
 * make runs depend on which orchestrator claimed them.
 */
export async function loadWorkflowRegistry(modulePath: string): Promise<{ registry: WorkflowRegistry; ids: string[] }> {
  const mod = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
  const list = (mod.workflows ?? mod.default) as unknown;
  if (!Array.isArray(list) || list.length === 0) {
    throw new Error(`${modulePath} must export a non-empty array "workflows" (or a default export of one)`);
  }
  const byId = new Map<string, AnyWorkflow>();
  for (const wf of list as AnyWorkflow[]) {
    if (!wf || typeof wf.id !== "string" || typeof wf.getStage !== "function") {
      throw new Error(`${modulePath}: every entry of "workflows" must be a built workflow (WorkflowBuilder.build())`);
    }
    if (byId.has(wf.id)) throw new Error(`${modulePath}: workflow id "${wf.id}" is defined twice`);
    byId.set(wf.id, wf);
  }
  return { registry: { getWorkflow: (id) => byId.get(id) }, ids: [...byId.keys()] };
}

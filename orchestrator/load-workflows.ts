import type { AnyWorkflow } from "../src/builder/types.js";
import type { WorkflowRegistry } from "../src/ports/registry.js";
import type { WorkflowModuleContext } from "./remote.js";
import { importUserModule } from "./import-module.js";

/**
 * Imports a module (TypeScript or JavaScript) exporting `workflows` (an array of built workflows) or a default export of one,
 * or `createWorkflows(context)` returning (a promise of) such an array: the hook for workflows
 * whose stages need this process's resources, e.g. `context.remote.stage(stage, { queue,
 * stageCodeVersion })` for a remote activity bound to the orchestrator's broker. Returns a
 * registry. Duplicate ids are refused: two definitions of one id would make runs depend on which
 * orchestrator claimed them.
 */
export async function loadWorkflowRegistry(
  modulePath: string,
  context?: WorkflowModuleContext,
): Promise<{ registry: WorkflowRegistry; ids: string[] }> {
  const mod = await importUserModule(modulePath);
  let list = (mod.workflows ?? mod.default) as unknown;
  if (typeof mod.createWorkflows === "function") {
    if (list !== undefined) throw new Error(`${modulePath} exports both "createWorkflows" and "workflows"/default; export one`);
    if (!context) throw new Error(`${modulePath} exports "createWorkflows", which needs the orchestrator's context`);
    list = await (mod.createWorkflows as (c: WorkflowModuleContext) => unknown)(context);
  }
  if (!Array.isArray(list) || list.length === 0) {
    throw new Error(
      `${modulePath} must export a non-empty array "workflows" (or a default export of one, or a function "createWorkflows" returning one)`,
    );
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

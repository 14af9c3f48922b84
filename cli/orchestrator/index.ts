/**
 * `jetflow/orchestrator`: the orchestrator process as a library, for embedding it in your own
 * service instead of running `jetflow orchestrator`, and the types a workflow module's
 * `createWorkflows({ remote })` is written against. See docs/orchestrator.md.
 */
export { startOrchestrator, type Orchestrator } from "./start.js";
export { OrchestratorConfig, loadOrchestratorConfig } from "./config.js";
export type { RemoteStages, WorkflowModuleContext } from "./remote.js";

/**
 * `jetflow/orchestrator`: the orchestrator process as a library, for embedding it in your own
 * service instead of running `jetflow orchestrator`, and the types a workflow module's
 * `createWorkflows({ remote })` is written against. See docs/orchestrator.md.
 */

// Starting an orchestrator
export { startOrchestrator } from "./start.js";

// Configuration: schema and loader (file + environment)
export { OrchestratorConfig, loadOrchestratorConfig } from "./config.js";

// Orchestrator types
export type { Orchestrator } from "./start.js";

// Workflow module types
export type { RemoteStages, WorkflowModuleContext } from "./remote.js";

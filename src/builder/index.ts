// Workflow builder: stages into execution groups.
export { WorkflowBuilder, WORKFLOW_ID_PATTERN } from "./workflow-builder.js";
export type { TypedWorkflow, WorkflowContextOf, StageOutputOf, WithStageOutputs } from "./workflow-builder.js";

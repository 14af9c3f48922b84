// Stage definitions and stage-id helpers.
export { defineStage, defineAsyncBatchStage } from "../contract/define-stage.js";
export { DEFAULT_RETRY_POLICY } from "../contract/failure-policy.js";
export type { DefinedStage, SyncStageDefinition, AsyncBatchStageDefinition } from "../contract/define-stage.js";
export { STAGE_ID_PATTERN } from "../contract/stage-id.js";
export { createStageIds, defineStageIds, isValidStageId, assertValidStageId, UnknownStageIdError } from "./stage-ids.js";
export type { StageIdMap, StageIdsOf, StageIdSource } from "./stage-ids.js";
export { NonRetryableStageError } from "../contract/stage-errors.js";

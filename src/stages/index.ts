// Stage definitions and stage-id helpers.
export { defineStage, defineAsyncBatchStage, DEFAULT_RETRY_POLICY } from "./define-stage.js";
export type { DefinedStage, SyncStageDefinition, AsyncBatchStageDefinition } from "./define-stage.js";
export { STAGE_ID_PATTERN } from "./stage-id.js";
export { createStageIds, defineStageIds, isValidStageId, assertValidStageId, UnknownStageIdError } from "./stage-ids.js";
export type { StageIdMap, StageIdsOf, StageIdSource } from "./stage-ids.js";
export { NonRetryableStageError } from "./errors.js";

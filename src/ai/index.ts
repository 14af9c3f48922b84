/**
 * `jetflow/ai`: AI calls from stages with token and cost tracking (see docs/ai.md). Built on the
 * Vercel AI SDK (`ai`); provider packages (`@ai-sdk/openai`, `@ai-sdk/anthropic`, …) are the
 * application's choice.
 */
export { createAIHelper } from "./helper.js";
export type { AIHelper, AIHelperOptions, AIHelperContext, AIBudget } from "./helper.js";
export { ModelCatalogue, ModelPrice, ModelCatalogueFile, defaultModelCatalogue, loadModelCatalogue, providerFamily } from "./catalogue.js";
export type { TokenUsage } from "./catalogue.js";
export { registerAIProvider, registerEmbeddingProvider } from "./providers.js";
export type { AIProvider, EmbeddingProvider } from "./providers.js";
export { registerBatchProvider, AIBatchHandle } from "./batch.js";
export type { AIBatchApi, AIBatchPoll, AIBatchProvider, AIBatchRequest, AIBatchResult, AIBatchStatus } from "./batch.js";
export { AIBudgetExceededError, AIHelperError } from "./errors.js";
export { aiTopic } from "../contract/ai-calls.js";
export type { AIRecorder, AISpend, ReportAICall } from "../contract/ai-calls.js";

/**
 * `jetflow/ai`: AI calls from stages with token and cost tracking (see docs/ai.md). Built on the
 * Vercel AI SDK (`ai`); provider packages (`@ai-sdk/openai`, `@ai-sdk/anthropic`, …) are the
 * application's choice.
 */
export { createAIHelper } from "./helper.js";
export type { AIHelper, AIHelperOptions, AIHelperContext, AIBudget } from "./helper.js";
export type { StreamTextOptions, TrackedStreamText } from "./stream-text.js";
export { ModelCatalogue, ModelPrice, ModelCatalogueFile, defaultModelCatalogue, loadModelCatalogue, providerFamily } from "./catalogue.js";
export type { TokenUsage } from "./catalogue.js";
export { registerAIProvider, registerEmbeddingProvider } from "./providers.js";
export type { AIProvider, EmbeddingProvider } from "./providers.js";
export { registerBatchProvider, AIBatchHandle } from "./batch.js";
export type { AIBatchApi, AIBatchPoll, AIBatchProvider, AIBatchRequest, AIBatchResult, AIBatchStatus } from "./batch.js";
// HTTP batch clients for OpenAI and Anthropic (register them with registerBatchProvider).
export { openAIBatchProvider, OPENAI_BATCH_DEFAULTS } from "./openai-batch.js";
export type { OpenAIBatchProviderOptions } from "./openai-batch.js";
export { anthropicBatchProvider, ANTHROPIC_BATCH_DEFAULTS } from "./anthropic-batch.js";
export type { AnthropicBatchProviderOptions } from "./anthropic-batch.js";
export { BATCH_HTTP_DEFAULTS } from "./batch-http.js";
export { AIBudgetExceededError, AIHelperError, AIBatchProviderError } from "./errors.js";
export type { AIBatchProviderErrorKind } from "./errors.js";
export { aiTopic } from "../contract/ai-calls.js";
export type { AIRecorder, AISpend, ReportAICall } from "../contract/ai-calls.js";

/**
 * Named providers the AI helper resolves model strings against: `"<name>:<modelId>"` picks a
 * registered language/embedding provider (any AI SDK provider, e.g. `createOpenAI()`, or one
 * built with `customProvider`), `"<name>"` or `"<name>:<modelId>"` a registered embedding
 * provider. Any other string goes to the AI SDK's global provider unchanged. Registrations are
 * process-wide, so an orchestrator that restarts and registers the same names at start-up
 * resolves the same models (a suspended batch names its provider, not an object).
 */
import type { EmbeddingModel, LanguageModel } from "ai";
import { ValidationError } from "../contract/errors.js";

/** An AI SDK embedding model object (not a string id). */
export type EmbeddingModelObject = Exclude<EmbeddingModel, string>;
/** An AI SDK language model object (not a string id). */
export type LanguageModelObject = Exclude<LanguageModel, string>;

/** What `registerAIProvider` accepts: an AI SDK provider (only the methods used are required). */
export interface AIProvider {
  languageModel?(modelId: string): LanguageModelObject;
  embeddingModel?(modelId: string): EmbeddingModelObject;
}

/** A custom embedding backend: any function from texts to vectors. */
export interface EmbeddingProvider {
  /** Model id recorded with each call (and looked up in the price catalogue). Default: the name. */
  modelId?: string;
  /** Largest number of values per request; embedMany splits above it. Default: unlimited. */
  maxEmbeddingsPerCall?: number;
  embed(
    values: string[],
    opts: { modelId: string; signal?: AbortSignal },
  ): Promise<{ embeddings: number[][]; /** Tokens billed, when the backend reports them. */ tokens?: number }>;
}

const NAME = /^[a-z0-9][a-z0-9_-]*$/i;
const providers = new Map<string, AIProvider>();
const embedders = new Map<string, EmbeddingProvider>();

function checkName(what: string, name: string): void {
  if (typeof name !== "string" || !NAME.test(name))
    throw new ValidationError(`${what}`, [{ path: "name", message: `"${String(name)}" must be letters, digits, "_" or "-"` }]);
}

/** Registers an AI SDK provider under `name`; models are then named `"<name>:<modelId>"`. Returns the unregister function. */
export function registerAIProvider(name: string, provider: AIProvider): () => void {
  checkName("registerAIProvider", name);
  providers.set(name, provider);
  return () => {
    if (providers.get(name) === provider) providers.delete(name);
  };
}

/** Registers a custom embedding backend under `name` (`embed({ model: "<name>" })`). Returns the unregister function. */
export function registerEmbeddingProvider(name: string, provider: EmbeddingProvider): () => void {
  checkName("registerEmbeddingProvider", name);
  if (typeof provider?.embed !== "function")
    throw new ValidationError("registerEmbeddingProvider", [{ path: "provider.embed", message: "must be a function" }]);
  embedders.set(name, provider);
  return () => {
    if (embedders.get(name) === provider) embedders.delete(name);
  };
}

function split(id: string): [string, string | undefined] {
  const i = id.indexOf(":");
  return i < 0 ? [id, undefined] : [id.slice(0, i), id.slice(i + 1)];
}

/** The model object for `model`; a string of a registered provider is resolved, others pass through. */
export function resolveLanguageModel(model: LanguageModel): LanguageModel {
  if (typeof model !== "string") return model;
  const [name, modelId] = split(model);
  const p = providers.get(name);
  if (!p || modelId === undefined) return model;
  if (!p.languageModel) throw new ValidationError("model", [{ path: "model", message: `provider "${name}" has no language models` }]);
  return p.languageModel(modelId);
}

/** The embedding model object for `model` (registered embedding providers first). */
export function resolveEmbeddingModel(model: EmbeddingModel): EmbeddingModel {
  if (typeof model !== "string") return model;
  const [name, modelId] = split(model);
  const e = embedders.get(name);
  if (e) return embeddingModelOf(name, modelId ?? e.modelId ?? name, e);
  const p = providers.get(name);
  if (!p || modelId === undefined) return model;
  if (!p.embeddingModel) throw new ValidationError("model", [{ path: "model", message: `provider "${name}" has no embedding models` }]);
  return p.embeddingModel(modelId);
}

/** Adapts a custom backend to the AI SDK's embedding model interface, so embed/embedMany work unchanged. */
function embeddingModelOf(name: string, modelId: string, e: EmbeddingProvider): EmbeddingModelObject {
  return {
    specificationVersion: "v3",
    provider: name,
    modelId,
    maxEmbeddingsPerCall: e.maxEmbeddingsPerCall,
    supportsParallelCalls: true,
    async doEmbed({ values, abortSignal }) {
      const out = await e.embed(values, { modelId, ...(abortSignal ? { signal: abortSignal } : {}) });
      if (!Array.isArray(out?.embeddings) || out.embeddings.length !== values.length)
        throw new Error(`embedding provider "${name}" returned ${out?.embeddings?.length ?? "no"} vectors for ${values.length} values`);
      return { embeddings: out.embeddings, ...(out.tokens !== undefined ? { usage: { tokens: out.tokens } } : {}), warnings: [] };
    },
  };
}

/** Model id and provider id of a model, as recorded and priced. */
export function modelIdentity(model: LanguageModel | EmbeddingModel): { modelId: string; provider: string | undefined } {
  if (typeof model === "string") return { modelId: model, provider: undefined };
  return { modelId: model.modelId, provider: model.provider };
}

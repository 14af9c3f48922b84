/**
 * Model price catalogue: USD per 1M input / cached input / output tokens, from a data file
 * (model-prices.json) the user can extend or override. A model that is not in the catalogue has
 * an unknown cost (null): jetflow never guesses a price.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { ValidationError } from "../contract/errors.js";
import { issuesFromZod } from "../contract/validation.js";
import defaultPrices from "./model-prices.json" with { type: "json" };

/** Price of one model, USD per 1M tokens. */
export const ModelPrice = z.object({
  input: z.number().min(0),
  output: z.number().min(0),
  /** Cache-read input tokens; default: the input price. */
  cachedInput: z.number().min(0).optional(),
  /** Factor on every price for batch-API calls (0.5 = half price). Default 1. */
  batchMultiplier: z.number().min(0).optional(),
});
/** Price of one model, USD per 1M tokens. */
export type ModelPrice = z.output<typeof ModelPrice>;

/** The catalogue file: `{ "models": { "<provider>/<model>": ModelPrice, … } }`. */
export const ModelCatalogueFile = z.object({
  models: z.record(z.string().min(1), ModelPrice),
  updated: z.string().optional(),
});

/** Token counts of one call as the provider reported them; undefined = not reported. */
export interface TokenUsage {
  inputTokens: number | undefined;
  outputTokens: number | undefined;
  /** Input tokens served from the provider's prompt cache (part of inputTokens). */
  cachedInputTokens?: number | undefined;
}

/** Provider family of an AI SDK provider id: `openai.chat` → `openai`. */
export function providerFamily(provider: string | undefined): string | undefined {
  return provider ? provider.split(".")[0] : undefined;
}

/** An immutable set of model prices; `with()` derives an extended or overriding copy. */
export class ModelCatalogue {
  private readonly prices: ReadonlyMap<string, ModelPrice>;

  constructor(models: Record<string, ModelPrice>) {
    const parsed = ModelCatalogueFile.shape.models.safeParse(models);
    if (!parsed.success) throw new ValidationError("invalid model catalogue", issuesFromZod(parsed.error, "models"));
    this.prices = new Map(Object.entries(parsed.data));
  }

  /** A copy with `models` added; an existing key is replaced. */
  with(models: Record<string, ModelPrice>): ModelCatalogue {
    return new ModelCatalogue({ ...Object.fromEntries(this.prices), ...models });
  }

  /** Every entry, keyed `<provider>/<model>`. */
  entries(): Record<string, ModelPrice> {
    return Object.fromEntries(this.prices);
  }

  /**
   * The price of `modelId` served by `provider` (an AI SDK provider id such as `openai.chat`):
   * the exact key `modelId` (gateway ids are `<provider>/<model>` already), then
   * `<family>/<modelId>`, then the only entry of any provider with that model id. Null when none
   * matches: an ambiguous or dated id is not mapped to a look-alike.
   */
  price(modelId: string, provider?: string): ModelPrice | null {
    const exact = this.prices.get(modelId);
    if (exact) return exact;
    const family = providerFamily(provider);
    if (family) {
      const p = this.prices.get(`${family}/${modelId}`);
      if (p) return p;
    }
    const matches = [...this.prices.entries()].filter(([k]) => k.slice(k.indexOf("/") + 1) === modelId);
    return matches.length === 1 ? matches[0]![1] : null;
  }

  /**
   * USD cost of one call, or null when the model has no price or the provider reported no
   * usage (an unknown cost is recorded as unknown, never estimated).
   */
  cost(modelId: string, provider: string | undefined, usage: TokenUsage, opts?: { batch?: boolean }): number | null {
    const p = this.price(modelId, provider);
    if (!p || usage.inputTokens === undefined) return null;
    const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens);
    const factor = opts?.batch ? (p.batchMultiplier ?? 1) : 1;
    const usd =
      ((usage.inputTokens - cached) * p.input + cached * (p.cachedInput ?? p.input) + (usage.outputTokens ?? 0) * p.output) / 1_000_000;
    return usd * factor;
  }
}

/** The catalogue shipped with jetflow (src/ai/model-prices.json). */
export const defaultModelCatalogue: ModelCatalogue = new ModelCatalogue(defaultPrices.models);

/**
 * Reads a catalogue file (same shape as model-prices.json) and lays it over `base` (default: the
 * shipped catalogue): its entries add models and override prices.
 * @throws ValidationError naming the bad entry.
 */
export function loadModelCatalogue(file: string, base: ModelCatalogue = defaultModelCatalogue): ModelCatalogue {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ValidationError("invalid model catalogue file", [{ path: file, message: (err as Error).message }]);
  }
  const parsed = ModelCatalogueFile.safeParse(json);
  if (!parsed.success) throw new ValidationError(`invalid model catalogue file ${file}`, issuesFromZod(parsed.error));
  return base.with(parsed.data.models);
}

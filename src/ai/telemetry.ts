/**
 * OpenTelemetry of AI calls, following the GenAI semantic conventions: one CLIENT span per call
 * named `<operation> <model>` with `gen_ai.*` attributes, the `gen_ai.client.token.usage` and
 * `gen_ai.client.operation.duration` histograms, and jetflow's `jetflow.ai.cost` counter (USD of
 * calls whose price is known). Only `@opentelemetry/api`: without an SDK everything is a no-op.
 */
import { type Attributes, type Counter, type Histogram } from "@opentelemetry/api";
import { meterInstruments } from "../contract/metrics.js";

/** `gen_ai.operation.name` values jetflow emits. */
export type GenAIOperation = "chat" | "embeddings" | "batch";

interface Instruments {
  cost: Counter;
  tokens: Histogram;
  duration: Histogram;
}
const instruments = meterInstruments<Instruments>((meter) => ({
  cost: meter.createCounter("jetflow.ai.cost", { unit: "{USD}", description: "Cost of AI calls whose model price is known" }),
  tokens: meter.createHistogram("gen_ai.client.token.usage", { unit: "{token}", description: "Tokens used per AI call" }),
  duration: meter.createHistogram("gen_ai.client.operation.duration", { unit: "s", description: "Duration of AI calls" }),
}));

/** Span attributes known before the call. */
export function requestAttributes(op: GenAIOperation, modelId: string, provider: string | undefined, topic: string): Attributes {
  return {
    "gen_ai.operation.name": op,
    "gen_ai.request.model": modelId,
    ...(provider ? { "gen_ai.provider.name": provider.split(".")[0], "gen_ai.system": provider.split(".")[0] } : {}),
    "jetflow.ai.topic": topic,
  };
}

/** Records one finished call's tokens, duration and cost on the metrics. */
export function recordAIMetrics(
  attrs: Attributes,
  usage: { inputTokens: number; outputTokens: number },
  seconds: number,
  cost: number | null,
  error?: string,
): void {
  const base: Attributes = {
    "gen_ai.operation.name": attrs["gen_ai.operation.name"],
    "gen_ai.request.model": attrs["gen_ai.request.model"],
    ...(attrs["gen_ai.provider.name"] ? { "gen_ai.provider.name": attrs["gen_ai.provider.name"] } : {}),
  };
  const i = instruments();
  i.duration.record(seconds, error ? { ...base, "error.type": error } : base);
  if (error) return;
  i.tokens.record(usage.inputTokens, { ...base, "gen_ai.token.type": "input" });
  i.tokens.record(usage.outputTokens, { ...base, "gen_ai.token.type": "output" });
  if (cost !== null) i.cost.add(cost, base);
}

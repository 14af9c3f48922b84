import type { AICallSummaryQuery, AICallSummaryRow } from "../../ports/persistence.js";
import type { AICallRecord } from "../../ports/records.js";
import { deepCopy } from "../clone.js";
import { type MemoryState, ms } from "./state.js";

// AI call accounting of the in-memory adapter; synchronous, hence atomic.

/** A call whose id is already stored is skipped (a replayed report records it once). */
export function recordAICall(s: MemoryState, c: AICallRecord): void {
  if (s.aiCalls.some((x) => x.id === c.id)) return;
  s.aiCalls.push(deepCopy(c));
}

export function listAICalls(s: MemoryState, topicPrefix: string): AICallRecord[] {
  return s.aiCalls
    .filter((c) => c.topic.startsWith(topicPrefix))
    .sort((a, b) => ms(a.createdAt) - ms(b.createdAt))
    .map(deepCopy);
}

/** `workflow.<runId>.stage.<stageId>` → [runId, stageId]. */
function topicParts(topic: string): [string, string] {
  const [, runId = "", ...rest] = topic.split(".");
  const stage = rest[0] === "stage" ? rest.slice(1).join(".") : "";
  return [runId, stage];
}

export function summarizeAICalls(s: MemoryState, q: AICallSummaryQuery): AICallSummaryRow[] {
  const groups = new Map<string, AICallSummaryRow>();
  for (const c of s.aiCalls) {
    if (q.topicPrefix !== undefined && !c.topic.startsWith(q.topicPrefix)) continue;
    if (q.since && ms(c.createdAt) < ms(q.since)) continue;
    const [runId, stageId] = topicParts(c.topic);
    const key =
      q.by === "model" ? c.model : q.by === "run" ? runId : q.by === "stage" ? stageId : (s.runs.get(runId)?.workflowId ?? "(unknown)");
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { key, calls: 0, inputTokens: 0, outputTokens: 0, cost: 0, unknownCostCalls: 0, errors: 0 }));
    g.calls++;
    g.inputTokens += c.inputTokens;
    g.outputTokens += c.outputTokens;
    if (c.cost === null) g.unknownCostCalls++;
    else g.cost += c.cost;
    if (c.meta?.status === "error") g.errors++;
  }
  return [...groups.values()].sort((a, b) => b.cost - a.cost || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** AI call accounting on Postgres: one row per model call, grouped totals for cost reports. */
import type { AICallSummaryQuery, AICallSummaryRow } from "../../src/ports/persistence.js";
import type { AICallRecord } from "../../src/ports/records.js";
import type { Ctx } from "./runs-stages.js";
import { json, likePrefix, toAICall } from "./rows.js";

/** A call whose id is already stored is skipped (a replayed report records it once). */
export async function recordAICall({ db, t }: Ctx, c: AICallRecord): Promise<void> {
  await db`
    insert into ${t.aiCalls} (id, topic, model, call_type, input_tokens, output_tokens, cost, meta, created_at)
    values (${c.id}, ${c.topic}, ${c.model}, ${c.callType}, ${c.inputTokens}, ${c.outputTokens}, ${c.cost}, ${json(db, c.meta)}, ${c.createdAt})
    on conflict (id) do nothing`;
}

export async function listAICalls({ db, t }: Ctx, topicPrefix: string): Promise<AICallRecord[]> {
  const rows = await db`select * from ${t.aiCalls} where topic like ${likePrefix(topicPrefix)} order by created_at, seq`;
  return rows.map(toAICall);
}

export async function summarizeAICalls({ db, t }: Ctx, q: AICallSummaryQuery): Promise<AICallSummaryRow[]> {
  // Topics are `workflow.<runId>.stage.<stageId>`; run ids hold no dot, stage ids may.
  const runId = db`split_part(a.topic, '.', 2)`;
  const key =
    q.by === "model"
      ? db`a.model`
      : q.by === "run"
        ? runId
        : q.by === "stage"
          ? db`substr(a.topic, length('workflow.' || ${runId} || '.stage.') + 1)`
          : db`coalesce(r.workflow_id, '(unknown)')`;
  const rows = await db`
    select ${key} as key, count(*)::int as calls,
      coalesce(sum(a.input_tokens), 0)::bigint as input_tokens, coalesce(sum(a.output_tokens), 0)::bigint as output_tokens,
      coalesce(sum(a.cost), 0)::float8 as cost, count(*) filter (where a.cost is null)::int as unknown_cost_calls,
      count(*) filter (where a.meta->>'status' = 'error')::int as errors
    from ${t.aiCalls} a
    ${q.by === "workflow" ? db`left join ${t.runs} r on r.id = ${runId}` : db``}
    where true
    ${q.topicPrefix !== undefined ? db`and a.topic like ${likePrefix(q.topicPrefix)}` : db``}
    ${q.since ? db`and a.created_at >= ${q.since}` : db``}
    group by 1 order by cost desc, ${key} collate "C"`;
  return rows.map((r) => ({
    key: r.key as string,
    calls: r.calls as number,
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
    cost: Number(r.cost),
    unknownCostCalls: r.unknown_cost_calls as number,
    errors: r.errors as number,
  }));
}

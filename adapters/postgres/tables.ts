import type postgres from "postgres";
import { quoteSchema } from "./schema-name.js";

/**
 * Schema-qualified table identifiers for tagged-template queries. postgres.js identifier
 * helpers are plain values, so ones built on the root client also serve its transactions.
 */
export function tables(sql: postgres.Sql, schema: string) {
  quoteSchema(schema); // validates
  const t = (name: string) => sql(`${schema}.${name}`);
  return {
    schema,
    runs: t("runs"),
    stages: t("stages"),
    logs: t("logs"),
    artifacts: t("artifacts"),
    outbox: t("outbox"),
    idempotency: t("idempotency_keys"),
    annotations: t("annotations"),
    aiCalls: t("ai_calls"),
    activityTasks: t("activity_tasks"),
    rejectedReports: t("activity_rejected_reports"),
    jobs: t("jobs"),
    sharedSecrets: t("shared_secrets"),
    limitKeys: t("limit_keys"),
    limitSlots: t("limit_slots"),
    limitWaiters: t("limit_waiters"),
    jobsSeq: `${quoteSchema(schema)}.jobs_seq`,
  };
}

export type Tables = ReturnType<typeof tables>;

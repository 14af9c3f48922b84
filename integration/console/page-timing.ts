/**
 * Page-load timing of the console against a database holding 10,000 runs (issue 16: pages load
 * in < 300 ms). `seedHistory` writes a realistic history straight into Postgres — runs of two
 * workflows in every terminal status, each with stages, logs, two annotations and an idempotency
 * key — so every filter of the runs list has something to find and the run page has something to
 * show. `timeLoads` times one page as the console serves it (an HTTP GET of the full HTML: console
 * render, NATS API round trips, the orchestrator's queries) and as the browser shows it.
 */
import postgres from "postgres";

/** Runs the history holds; run `bulk-<n>` was created `HISTORY - n` seconds before the newest. */
export const HISTORY = 10_000;

/**
 * Inserts the history, then VACUUM ANALYZE: a database that grew to 10,000 runs has been through
 * autovacuum, which would otherwise run only after the test (so its plans and visibility map
 * would be those of an empty table).
 */
export async function seedHistory(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.begin(async (tx) => {
      await tx`
        insert into jetflow.runs (id, workflow_id, status, input, config, output, error, created_at, updated_at, started_at, completed_at, last_activity_at)
        select 'bulk-' || g, case when g % 50 = 0 then 'bulk-rare' else 'bulk-history' end,
          case when g % 997 = 0 then 'CANCELLED' when g % 10 = 0 then 'FAILED' else 'COMPLETED' end,
          jsonb_build_object('customer', 'c' || (g % 300), 'note', repeat('x', 300)), '{}'::jsonb,
          case when g % 10 = 0 then null else jsonb_build_object('ok', true, 'n', g) end,
          case when g % 10 = 0 then 'stage check failed: bad input ' || g end,
          now() - interval '1 day' + g * interval '1 second', now(), now() - interval '1 day' + g * interval '1 second',
          now() - interval '1 day' + g * interval '1 second' + interval '2 seconds', now()
        from generate_series(1, ${HISTORY}::int) g`;
      await tx`
        insert into jetflow.stages (id, run_id, stage_id, stage_name, group_index, status, attempt, max_attempts, output, created_at, updated_at, started_at, completed_at)
        select 'bulk-' || g || '/' || s, 'bulk-' || g, 'step' || s, 'step' || s, s, 'COMPLETED', 1, 3, jsonb_build_object('step', s),
          now() - interval '1 day', now(), now() - interval '1 day', now() - interval '1 day' + interval '1 second'
        from generate_series(1, ${HISTORY}::int) g, generate_series(0, 2) s`;
      await tx`
        insert into jetflow.logs (id, run_id, stage_id, level, message, created_at)
        select 'bulk-' || g || '/' || s, 'bulk-' || g, 'step' || (s % 3), case when s = 4 then 'WARN' else 'INFO' end,
          'line ' || s || ' of run ' || g, now() - interval '1 day' + s * interval '1 ms'
        from generate_series(1, ${HISTORY}::int) g, generate_series(0, 4) s`;
      await tx`
        insert into jetflow.annotations (id, run_id, key, value, actor_kind, actor_id, created_at)
        select 'bulk-' || g || '/' || k, 'bulk-' || g, k, case when k = 'customer' then to_jsonb('c' || (g % 300)) else '"eu"'::jsonb end,
          'system', 'seed', now() - interval '1 day'
        from generate_series(1, ${HISTORY}::int) g, unnest(array['customer', 'region']) k`;
      await tx`
        insert into jetflow.idempotency_keys (command, key, status, result, created_at, updated_at)
        select 'run.create', 'bulk-order-' || g, 'COMPLETED', jsonb_build_object('workflowRunId', 'bulk-' || g), now(), now()
        from generate_series(1, ${HISTORY}::int) g`;
    });
    await sql`vacuum analyze jetflow.runs, jetflow.stages, jetflow.logs, jetflow.annotations, jetflow.idempotency_keys`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The creation time of history run `bulk-<n>` as the list's `before` cursor would carry it. */
export async function createdAtOf(url: string, runId: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select created_at from jetflow.runs where id = ${runId}`;
    return (rows[0]!.created_at as Date).toISOString();
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Median, fastest and slowest of some durations in ms. */
export interface Timing {
  median: number;
  min: number;
  max: number;
}

/**
 * Times `load` `times` times after three untimed warm-ups: steady state, not the first request
 * after start-up (JIT of the render code, connection pools and prepared statements of the
 * console, the API and postgres.js), which the first page timed would otherwise carry alone.
 */
export async function timeLoads(load: () => Promise<void>, times: number): Promise<Timing> {
  for (let i = 0; i < 3; i++) await load();
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await load();
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)]!, min: ms[0]!, max: ms.at(-1)! };
}

/** `median 123 ms (min 100, max 150)`. */
export function show(t: Timing): string {
  return `${t.median.toFixed(0).padStart(4)} ms (${t.min.toFixed(0)}–${t.max.toFixed(0)})`;
}

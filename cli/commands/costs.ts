/**
 * `jetflow costs` and `jetflow runs costs <runId>`: AI call costs recorded by `jetflow/ai`, from
 * any orchestrator over the NATS API (`costs.summary`, `runs.costs`).
 */
import { type Command, InvalidArgumentError } from "commander";
import { z } from "zod";
import { createJetflowClient } from "../../adapters/jetstream/api/client.js";
import type { AICostRow } from "../../src/contract/api-costs.js";
import { ConnectionOptions, openConnection, withConnectionFlags } from "../shared/connection.js";
import { parseOptions } from "../shared/parse-options.js";

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `7d`, `12h`, `30m`, `2w` before `now`, or an ISO-8601 instant. @throws InvalidArgumentError */
export function parseSince(value: string, now = new Date()): Date {
  const rel = /^(\d+)([mhdw])$/.exec(value.trim());
  if (rel) return new Date(now.getTime() - Number(rel[1]) * UNIT_MS[rel[2]!]!);
  const at = new Date(value);
  if (/^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(at.getTime())) return at;
  throw new InvalidArgumentError(`--since "${value}" is neither a duration (30m, 12h, 7d, 2w) nor an ISO-8601 date`);
}

const usd = (n: number) => `$${n.toFixed(n >= 1 ? 2 : 6)}`;
/** A row whose every call is unpriced has an unknown cost, not a cost of $0. */
const rowCost = (r: AICostRow) => (r.calls > 0 && r.unknownCostCalls === r.calls ? "unknown" : usd(r.cost));

/** `$0.83 over 4 AI calls, 1 of them unpriced (cost unknown, not included)`. */
export function costSummary(total: AICostRow): string {
  const calls = `${total.calls} AI call${total.calls === 1 ? "" : "s"}`;
  const unpriced = total.unknownCostCalls > 0 ? `, ${total.unknownCostCalls} of them unpriced (cost unknown, not included)` : "";
  return `${usd(total.cost)} over ${calls}${unpriced}`;
}

/** A table of cost rows; unknown-cost calls are shown, never folded into the cost. */
export function costTable(title: string, rows: readonly AICostRow[]): string {
  const head = `${title.padEnd(32)} ${"calls".padStart(7)} ${"in tokens".padStart(11)} ${"out tokens".padStart(11)} ${"cost".padStart(12)}  unknown-cost errors`;
  const lines = rows.map(
    (r) =>
      `${r.key.padEnd(32)} ${String(r.calls).padStart(7)} ${String(r.inputTokens).padStart(11)} ${String(r.outputTokens).padStart(11)} ${rowCost(r).padStart(12)}  ${String(r.unknownCostCalls).padStart(12)} ${String(r.errors).padStart(6)}`,
  );
  return [head, ...(lines.length > 0 ? lines : ["  (no AI calls)"])].join("\n");
}

async function withClient<T>(raw: Record<string, unknown>, fn: (c: ReturnType<typeof createJetflowClient>) => Promise<T>): Promise<T> {
  const opts = parseOptions(ConnectionOptions, raw);
  const nc = await openConnection(opts);
  try {
    return await fn(createJetflowClient(nc, { prefix: opts.prefix, timeoutMs: opts.timeout }));
  } finally {
    await nc.close();
  }
}

const write = (json: boolean, value: unknown, human: () => string) =>
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);

/** Adds `runs costs <runId>` to the `runs` command. */
export function registerRunCosts(runs: Command): void {
  withConnectionFlags(
    runs
      .command("costs <runId>")
      .description("AI cost of a run: total, per stage and per model (calls recorded by jetflow/ai)")
      .option("--json", "machine-readable output"),
  ).action(async (runId: string, raw: Record<string, unknown>) => {
    const { json } = parseOptions(z.object({ json: z.boolean().default(false) }), raw);
    await withClient(raw, async (client) => {
      const r = await client.runCosts({ workflowRunId: runId });
      write(json, r, () =>
        [`run ${r.workflowRunId}: ${costSummary(r.total)}`, "", costTable("stage", r.byStage), "", costTable("model", r.byModel)].join(
          "\n",
        ),
      );
    });
  });
}

/** `jetflow costs --since 7d --by workflow|model|stage|run`. */
export function register(program: Command): void {
  withConnectionFlags(
    program
      .command("costs")
      .description("AI costs since an instant, grouped by workflow, model, stage or run")
      .option("--since <when>", "a duration back from now (30m, 12h, 7d, 2w) or an ISO-8601 date", "7d")
      .option("--by <group>", "workflow | model | stage | run", "workflow")
      .option("--limit <n>", "show at most this many groups (costliest first)", "100")
      .option("--json", "machine-readable output"),
  ).action(async (raw: Record<string, unknown>) => {
    const o = parseOptions(
      z.object({
        json: z.boolean().default(false),
        since: z.string(),
        by: z.enum(["workflow", "model", "stage", "run"]),
        limit: z.coerce.number().int().min(1).max(1000),
      }),
      raw,
    );
    const since = parseSince(o.since);
    await withClient(raw, async (client) => {
      const r = await client.costs({ by: o.by, since: since.toISOString(), limit: o.limit });
      write(o.json, r, () => [`AI costs since ${r.since}: ${costSummary(r.total)}`, "", costTable(r.by, r.rows)].join("\n"));
    });
  });
}

// test-file-timeout-ms: 240000
// `jetflow runs costs <runId>` and `jetflow costs --since … --by …` as a user runs them: the real
// bin against a real orchestrator process (Postgres, NATS) whose run made priced and unpriced
// AI calls (generateText and streamText on the AI SDK's mock models).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { services } from "../harness/index.js";
import { runCli, startOrchestratorProcess, writeDeployment, type OrchestratorProcess } from "../orchestrator/support.js";

const root = resolve(import.meta.dirname, "..", "..");
const svc = await services(["nats", "postgres"]);
const t = svc ? test : test.skip;
let orchestrator: OrchestratorProcess | undefined;
let dir: string | undefined;
let env: NodeJS.ProcessEnv = {};
let runId = "";

test.before(async () => {
  if (!svc) return;
  const d = writeDeployment("jetflow-ai-cli-", {
    workflows: join(root, "integration/ai/fixtures/ai-workflows.ts"),
    database: { url: svc.postgres.url, schema: "jetflow", migrate: true },
    nats: { servers: svc.nats.url },
    host: { orchestrationIntervalMs: 200, jobPollIntervalMs: 200, maxConcurrentJobs: 2 },
    logLevel: "info",
  });
  dir = d.dir;
  env = { ...d.env, NO_COLOR: "1" };
  orchestrator = await startOrchestratorProcess(d, 60_000);
  const created = await cli("runs", "create", "ai-report", "--input", '{"topic":"costs"}', "--wait", "--json");
  assert.is(created.code, 0, created.stderr);
  const run = JSON.parse(created.stdout) as { id?: string; workflowRunId?: string; status: string };
  assert.is(run.status, "COMPLETED", created.stdout);
  runId = run.id ?? run.workflowRunId ?? "";
});

test.after(async () => {
  await orchestrator?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await svc?.stop();
});

const cli = (...args: string[]) => runCli([...args, "--servers", svc!.nats.url], env, 60_000);

const HEAD = /^(stage|model|workflow)\s+calls\s+in tokens\s+out tokens\s+cost\s+unknown-cost errors$/;
/** Table rows as [key, calls, in, out, cost, unknown-cost, errors]. */
const rows = (table: string) =>
  table
    .split("\n")
    .filter((l) => l !== "" && !HEAD.test(l))
    .map((l) => l.trim().split(/\s+/));
type Row = {
  key: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  cost: number;
  unknownCostCalls: number;
  errors: number;
};
const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} ≈ ${b}`);

// Prices: gpt-4o-mini $0.15/$0.60 per 1M in/out, gpt-4o $2.50/$10; house-llm-9 has none.
// draft: 1M in + 500k out on mini ($0.45) + 100k in + 10k out on 4o ($0.35); review: a 200k-in
// stream on mini ($0.03) and one unpriced call (4000 in, 300 out).
t("runs costs <runId>: the human table (total, per stage, per model, unpriced calls apart) and --json", async () => {
  const r = await cli("runs", "costs", runId);
  assert.is(r.code, 0, r.stderr);
  const [summary, blank1, ...rest] = r.stdout.trimEnd().split("\n");
  assert.is(summary, `run ${runId}: $0.830000 over 4 AI calls, 1 of them unpriced (cost unknown, not included)`);
  assert.is(blank1, "");
  const [stageTable, modelTable] = rest.join("\n").split("\n\n");
  assert.match(stageTable!.split("\n")[0]!, HEAD);
  assert.equal(rows(stageTable!), [
    ["draft", "2", "1100000", "510000", "$0.800000", "0", "0"],
    ["review", "2", "204000", "300", "$0.030000", "1", "0"],
  ]);
  assert.match(modelTable!.split("\n")[0]!, HEAD);
  assert.equal(rows(modelTable!), [
    ["gpt-4o-mini", "2", "1200000", "500000", "$0.480000", "0", "0"],
    ["gpt-4o", "1", "100000", "10000", "$0.350000", "0", "0"],
    // Its cost is unknown, not $0.
    ["house-llm-9", "1", "4000", "300", "unknown", "1", "0"],
  ]);

  const json = await cli("runs", "costs", runId, "--json");
  assert.is(json.code, 0, json.stderr);
  const j = JSON.parse(json.stdout) as { workflowRunId: string; total: Row; byStage: Row[]; byModel: Row[] };
  assert.is(j.workflowRunId, runId);
  assert.equal(
    [j.total.calls, j.total.inputTokens, j.total.outputTokens, j.total.unknownCostCalls, j.total.errors, j.total.cost],
    [4, 1_304_000, 510_300, 1, 0, 0.83],
  );
  assert.equal(
    j.byStage.map((x) => [x.key, x.calls, x.unknownCostCalls]),
    [
      ["draft", 2, 0],
      ["review", 2, 1],
    ],
  );
  near(j.byStage[0]!.cost, 0.8);
  assert.equal(
    j.byModel.map((x) => [x.key, x.calls, x.inputTokens, x.unknownCostCalls]),
    [
      ["gpt-4o-mini", 2, 1_200_000, 0],
      ["gpt-4o", 1, 100_000, 0],
      ["house-llm-9", 1, 4000, 1],
    ],
  );
  near(j.byModel[0]!.cost, 0.48);
  assert.is(j.byModel[2]!.cost, 0, "JSON keeps the unknown cost out of the sum; unknownCostCalls says why");

  const missing = await cli("runs", "costs", "no-such-run");
  assert.is.not(missing.code, 0);
  assert.match(missing.stderr, /no-such-run/);
});

t("costs --since 7d --by workflow|model|stage: the human table and --json", async () => {
  const expected: Record<string, string[][]> = {
    workflow: [["ai-report", "4", "1304000", "510300", "$0.830000", "1", "0"]],
    model: [
      ["gpt-4o-mini", "2", "1200000", "500000", "$0.480000", "0", "0"],
      ["gpt-4o", "1", "100000", "10000", "$0.350000", "0", "0"],
      ["house-llm-9", "1", "4000", "300", "unknown", "1", "0"],
    ],
    stage: [
      ["draft", "2", "1100000", "510000", "$0.800000", "0", "0"],
      ["review", "2", "204000", "300", "$0.030000", "1", "0"],
    ],
  };
  for (const [by, want] of Object.entries(expected)) {
    const r = await cli("costs", "--since", "7d", "--by", by);
    assert.is(r.code, 0, r.stderr);
    const [summary, blank, head, ...table] = r.stdout.trimEnd().split("\n");
    assert.match(
      summary!,
      /^AI costs since \d{4}-\d{2}-\d{2}T[\d:.]+Z: \$0\.830000 over 4 AI calls, 1 of them unpriced \(cost unknown, not included\)$/,
    );
    assert.is(blank, "");
    assert.match(head!, HEAD);
    assert.ok(head!.startsWith(by), head);
    assert.equal(rows(table.join("\n")), want, `--by ${by}`);
  }
  const json = await cli("costs", "--since", "7d", "--by", "model", "--json");
  assert.is(json.code, 0, json.stderr);
  const j = JSON.parse(json.stdout) as { by: string; since: string; total: Row; rows: Row[] };
  assert.is(j.by, "model");
  const since = Date.parse(j.since);
  assert.ok(Math.abs(Date.now() - 7 * 86_400_000 - since) < 120_000, `since ${j.since} is 7 days ago`);
  assert.equal([j.total.calls, j.total.cost, j.total.unknownCostCalls], [4, 0.83, 1]);
  assert.equal(
    j.rows.map((x) => x.key),
    ["gpt-4o-mini", "gpt-4o", "house-llm-9"],
  );
  // A window after the run holds nothing.
  const later = await cli("costs", "--since", new Date(Date.now() + 3_600_000).toISOString(), "--by", "stage");
  assert.is(later.code, 0, later.stderr);
  assert.match(later.stdout, /: \$0\.000000 over 0 AI calls\n\nstage .*\n  \(no AI calls\)\n$/);
});

test.run();

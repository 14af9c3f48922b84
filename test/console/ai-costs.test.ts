// The run page shows the run's AI cost (from the runs.costs endpoint) when it made AI calls, and
// nothing when it made none. The API client is a stub.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createConsoleApp } from "../../console/server.js";
import type { ConsoleDeps } from "../../console/deps.js";
import type { LiveEvents } from "../../console/live-events.js";

const run = {
  id: "r1",
  workflowId: "wf",
  status: "COMPLETED" as const,
  input: {},
  config: {},
  output: null,
  error: null,
  currentGroupIndex: 0,
  priority: 0,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  startedAt: "2026-01-01T00:00:00.000Z",
  completedAt: "2026-01-01T00:01:00.000Z",
  traceId: null,
};
const row = (key: string, calls: number, cost: number, unknownCostCalls = 0) => ({
  key,
  calls,
  inputTokens: 1200 * calls,
  outputTokens: 300 * calls,
  cost,
  unknownCostCalls,
  errors: 0,
});
const noLive = { subscribe: () => () => {} } as unknown as LiveEvents;

async function page(costs: () => Promise<unknown>): Promise<string> {
  const deps = {
    client: {
      getRun: async () => ({ run, stages: [], logs: [], annotations: [], artifacts: [], tasks: [] }),
      runCosts: costs,
    },
    workerControl: async () => ({}),
    actor: { kind: "user", id: "t" },
    pollMs: 60_000,
  } as unknown as ConsoleDeps;
  const app = createConsoleApp(deps, { loopbackOnly: true }, noLive).app;
  const res = await app.request("/runs/r1", { headers: { host: "127.0.0.1" } });
  return res.text();
}

test("a run with AI calls shows its total, per stage and per model, and the unpriced calls", async () => {
  const body = await page(async () => ({
    workflowRunId: "r1",
    total: row("total", 3, 0.0123, 1),
    byStage: [row("summarize", 2, 0.0123), row("embed", 1, 0, 1)],
    byModel: [row("gpt-4o-mini", 2, 0.0123), row("house-embed", 1, 0, 1)],
  }));
  assert.match(body, /<h2>AI cost<\/h2>/);
  assert.match(body, /<strong>\$0\.012300<\/strong> over 3 calls/);
  assert.match(body, /plus 1 calls of models without a price/);
  assert.match(body, /data-ai-costs="stage"[\s\S]*summarize[\s\S]*embed/);
  assert.match(body, /data-ai-costs="model"[\s\S]*gpt-4o-mini/);
});

test("a run without AI calls shows no AI section; an orchestrator that cannot answer leaves a note", async () => {
  const none = await page(async () => ({ workflowRunId: "r1", total: row("total", 0, 0), byStage: [], byModel: [] }));
  assert.not.match(none, /AI cost/);
  const failing = await page(async () => {
    throw new Error("no responders");
  });
  assert.match(failing, /AI cost unavailable: no responders/);
  assert.match(failing, /Run <code>r1<\/code>/);
});

test.run();

/** The run page's AI cost section (`runs.costs`): shown when the run made AI calls (see docs/ai.md). */
import { html } from "hono/html";
import type { JetflowClient } from "../adapters/jetstream/api/client.js";
import type { AICostRow } from "../src/contract/api-costs.js";
import type { Html } from "./html.js";

const usd = (n: number) => `$${n.toFixed(n >= 1 ? 2 : 6)}`;

function rows(title: string, list: AICostRow[]): Html {
  return html`<table data-ai-costs="${title}">
    <thead>
      <tr>
        <th>${title}</th>
        <th>calls</th>
        <th>input tokens</th>
        <th>output tokens</th>
        <th>cost</th>
        <th>unpriced calls</th>
        <th>errors</th>
      </tr>
    </thead>
    <tbody>
      ${list.map(
        (r) =>
          html`<tr>
            <td class="mono">${r.key}</td>
            <td>${r.calls}</td>
            <td>${r.inputTokens.toLocaleString("en")}</td>
            <td>${r.outputTokens.toLocaleString("en")}</td>
            <td>${usd(r.cost)}</td>
            <td>${r.unknownCostCalls}</td>
            <td>${r.errors}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/**
 * The section, or nothing when the run made no AI calls. An orchestrator that cannot answer (an
 * older one, no persistence) leaves a note instead of breaking the page.
 */
export async function aiCostSection(client: JetflowClient, workflowRunId: string): Promise<Html | string> {
  let costs;
  try {
    costs = await client.runCosts({ workflowRunId });
  } catch (err) {
    return html`<h2>AI cost</h2>
      <p class="muted" id="ai-cost">AI cost unavailable: ${err instanceof Error ? err.message : String(err)}</p>`;
  }
  if (costs.total.calls === 0) return "";
  const unknown = costs.total.unknownCostCalls;
  return html`<h2>AI cost</h2>
    <p id="ai-cost">
      <strong>${usd(costs.total.cost)}</strong> over ${costs.total.calls} calls (${costs.total.inputTokens.toLocaleString("en")} in /
      ${costs.total.outputTokens.toLocaleString("en")} out
      tokens)${unknown > 0 ? html`, plus ${unknown} calls of models without a price` : ""}
    </p>
    <div class="grid2">${rows("stage", costs.byStage)} ${rows("model", costs.byModel)}</div>`;
}

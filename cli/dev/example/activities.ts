/**
 * The remote stages of the bundled example (`jetflow dev` without --workflows, and `npm run demo`).
 * Worker processes load this file (`jetflow worker --module`); the orchestrator wraps the same
 * definitions with `remote.stage` (./workflows.ts). Both stages read the document by presigned GET
 * and write their result by presigned PUT: the worker holds no storage credential.
 */
import { appendFileSync } from "node:fs";
import { setTimeout as delay } from "node:timers/promises";
import { z } from "zod";
import { defineStage } from "../../../src/contract/define-stage.js";

/** The queue and code version the example's workers serve. */
export const EXAMPLE_QUEUE = "demo";
export const EXAMPLE_CODE_VERSION = "v1";
/** Attempt 1 of word-stats under --chaos works this long, so the demo can freeze its worker mid-task. */
export const CHAOS_HOLD_MS = 4_000;

export const DocumentRef = z.object({
  documentId: z.string(),
  title: z.string(),
  text: z.string(),
  artifactKey: z.string(),
  chaos: z.boolean().default(false),
});

/** Which process ran an attempt: the demo's summary prints it. */
const RanBy = z.object({ worker: z.string(), pid: z.number().int(), attempt: z.number().int() });
const ranBy = (attempt: number) => ({ worker: process.env.JETFLOW_DEV_WORKER_ID ?? `pid-${process.pid}`, pid: process.pid, attempt });

export const StatsOutput = RanBy.extend({
  words: z.number().int(),
  uniqueWords: z.number().int(),
  topWords: z.array(z.string()),
  artifactKey: z.string(),
});

export const CoverOutput = RanBy.extend({ artifactKey: z.string(), bytes: z.number().int() });

const STOP = new Set("a an and as at by for from in is it of on or so the to when which with was be are its this that".split(" "));

/** Word counts of the document; uploads them as stats.json. Under chaos, attempt 1 stalls (see the demo). */
export const wordStats = defineStage({
  id: "word-stats",
  name: "Word statistics",
  schemas: { input: DocumentRef, output: StatsOutput, config: z.object({ topN: z.number().int().positive().default(5) }) },
  retry: { maxAttempts: 3, backoffMs: 100, maxBackoffMs: 100 },
  async execute(ctx) {
    if (ctx.input.chaos && ctx.attempt === 1) {
      // Tell the demo which process holds the task, then keep working past the lease while it is
      // frozen. The report this attempt sends afterwards is late: the broker must refuse it.
      const file = process.env.JETFLOW_DEMO_CHAOS_FILE;
      if (file) appendFileSync(file, `${JSON.stringify({ runId: ctx.workflowRunId, ...ranBy(ctx.attempt) })}\n`);
      await delay(CHAOS_HOLD_MS);
      return { output: { ...ranBy(ctx.attempt), words: 0, uniqueWords: 0, topWords: [], artifactKey: "late-report-never-stored" } };
    }
    const bytes = await ctx.artifacts.get(ctx.input.artifactKey); // presigned GET
    if (!bytes) throw new Error(`document ${ctx.input.artifactKey} is missing`);
    const words =
      new TextDecoder()
        .decode(bytes)
        .toLowerCase()
        .match(/[a-z']+/g) ?? [];
    const counts = new Map<string, number>();
    for (const w of words) if (!STOP.has(w) && w.length > 2) counts.set(w, (counts.get(w) ?? 0) + 1);
    const topWords = [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, ctx.config.topN)
      .map(([w]) => w);
    const stats = { words: words.length, uniqueWords: new Set(words).size, topWords };
    const put = await ctx.artifacts.put("stats.json", JSON.stringify(stats), { contentType: "application/json" }); // presigned PUT
    return { output: { ...ranBy(ctx.attempt), ...stats, artifactKey: put.key } };
  },
});

/** Renders a cover image (SVG) for the document: the "heavy" work a GPU worker would do. */
export const renderCover = defineStage({
  id: "render-cover",
  name: "Render cover",
  schemas: { input: DocumentRef, output: CoverOutput, config: z.object({}) },
  retry: { maxAttempts: 3, backoffMs: 100, maxBackoffMs: 100 },
  async execute(ctx) {
    const bytes = await ctx.artifacts.get(ctx.input.artifactKey); // presigned GET
    if (!bytes) throw new Error(`document ${ctx.input.artifactKey} is missing`);
    const escape = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
    const svg =
      `<svg xmlns="http://www.w3.org/2000/svg" width="600" height="200">` +
      `<rect width="600" height="200" fill="#123"/><text x="20" y="90" fill="#fff" font-size="28">${escape(ctx.input.title)}</text>` +
      `<text x="20" y="140" fill="#9cf" font-size="16">${bytes.byteLength} bytes, rendered by ${escape(ranBy(ctx.attempt).worker)}</text></svg>`;
    const put = await ctx.artifacts.put("cover.svg", svg, { contentType: "image/svg+xml" }); // presigned PUT
    return { output: { ...ranBy(ctx.attempt), artifactKey: put.key, bytes: put.size } };
  },
});

/** What `jetflow worker --module` loads. */
export const stages = [wordStats, renderCover];

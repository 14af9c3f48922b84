/**
 * The bundled example workflow `document-report`, what `jetflow dev` loads when no --workflows is
 * given and what `npm run demo` runs:
 *
 * | group | stage | where |
 * | --- | --- | --- |
 * | 0 | fetch-document | orchestrator; stores the text as an artifact |
 * | 1 | word-stats, render-cover, summarize (parallel) | a worker; a worker; orchestrator |
 * | 2 | translate-batch | async-batch: submits to a batch service, suspends, resumes when done |
 * | 3 | report | orchestrator; reads the workers' artifacts back, stores report.json |
 */
import { z } from "zod";
import { WorkflowBuilder } from "../../../src/builder/index.js";
import { defineAsyncBatchStage, defineStage, NonRetryableStageError } from "../../../src/stages/index.js";
import type { WorkflowModuleContext } from "../../../orchestrator/remote.js";
import { DocumentRef, EXAMPLE_CODE_VERSION, EXAMPLE_QUEUE, renderCover, wordStats } from "./activities.js";

export const EXAMPLE_WORKFLOW_ID = "document-report";

/** Documents fetch-document can "download" (the example needs no network). */
const CORPUS: Record<string, { title: string; text: string }> = {
  "durable-execution": {
    title: "Why durable execution",
    text:
      "A workflow engine remembers where a process stands. When a machine dies in the middle of a long job, " +
      "another machine picks the work up from the last completed stage. Stages are small, typed and retried on their own. " +
      "Slow external work, such as a batch translation, suspends the stage instead of holding a worker. " +
      "Workers hold no credentials: they move files through presigned URLs and report through the broker.",
  },
  "work-queues": {
    title: "Work queues in one paragraph",
    text:
      "A work queue hands each message to exactly one consumer. The consumer acknowledges the message when the work is done. " +
      "If the consumer disappears, the message is delivered again after its lease expires, and a late answer is refused.",
  },
};

export const ExampleInput = z.object({
  documentId: z.string().min(1).default("durable-execution"),
  /** Makes attempt 1 of word-stats stall past its lease (the demo's --chaos). */
  chaos: z.boolean().default(false),
});

const fetchDocument = defineStage({
  id: "fetch-document",
  name: "Fetch document",
  schemas: { input: ExampleInput, output: DocumentRef, config: z.object({}) },
  async execute(ctx) {
    const doc = CORPUS[ctx.input.documentId];
    if (!doc) throw new NonRetryableStageError(`no document "${ctx.input.documentId}" (try ${Object.keys(CORPUS).join(", ")})`);
    const { key } = await ctx.artifacts.put("document.txt", doc.text, { contentType: "text/plain" });
    await ctx.log("INFO", "fetched document", { chars: doc.text.length, artifact: key });
    return { output: { documentId: ctx.input.documentId, title: doc.title, text: doc.text, artifactKey: key, chaos: ctx.input.chaos } };
  },
});

const summarize = defineStage({
  id: "summarize",
  name: "Summarize",
  schemas: { input: DocumentRef, output: z.object({ sentences: z.array(z.string()) }), config: z.object({}) },
  async execute(ctx) {
    const sentences = ctx.input.text.split(/(?<=[.!?])\s+/).filter(Boolean);
    return { output: { sentences: [sentences[0]!, sentences.at(-1)!] } };
  },
});

/** A stand-in for an external batch API (think an LLM batch endpoint): done 500 ms after submission. */
const batches = new Map<string, { readyAt: number; sentences: string[] }>();
const pigLatin = (s: string) =>
  s.replace(/[A-Za-z]+/g, (w) => {
    const m = /^([^aeiouAEIOU]*)(.*)$/.exec(w)!;
    return m[1] === "" ? `${w}way` : `${m[2]}${m[1]!.toLowerCase()}ay`;
  });

const translate = defineAsyncBatchStage({
  id: "translate-batch",
  name: "Batch translation",
  schemas: {
    input: "none",
    output: z.object({ language: z.string(), sentences: z.array(z.string()), batchId: z.string() }),
    config: z.object({ pollIntervalMs: z.number().int().positive().default(200) }),
  },
  async execute(ctx) {
    const summary = ctx.require("summarize") as { sentences: string[] };
    const batchId = `batch-${ctx.workflowRunId}`;
    batches.set(batchId, { readyAt: Date.now() + 500, sentences: summary.sentences.map(pigLatin) });
    await ctx.log("INFO", "submitted translation batch", { batchId });
    return { suspended: true, state: { batchId }, pollConfig: { pollInterval: ctx.config.pollIntervalMs, maxWaitTime: 60_000 } };
  },
  async checkCompletion(state: { batchId: string }) {
    const b = batches.get(state.batchId);
    // Lost with an orchestrator restart: the stand-in keeps batches in memory; resubmitting is the fix.
    if (!b) return { ready: false, error: `batch ${state.batchId} is unknown to the batch service (orchestrator restarted?)` };
    if (Date.now() < b.readyAt) return { ready: false };
    return { ready: true, output: { language: "pig-latin", sentences: b.sentences, batchId: state.batchId } };
  },
});

const ReportOutput = z.object({
  title: z.string(),
  words: z.number().int(),
  topWords: z.array(z.string()),
  translation: z.array(z.string()),
  artifacts: z.record(z.string(), z.string()),
  ranBy: z.record(z.string(), z.string()),
  /** Attempt of the remote task that counted (2 after a redelivery). */
  taskAttempts: z.record(z.string(), z.number().int()),
});

const report = defineStage({
  id: "report",
  name: "Report",
  schemas: { input: "none", output: ReportOutput, config: z.object({}) },
  async execute(ctx) {
    const doc = ctx.require("fetch-document") as z.output<typeof DocumentRef>;
    const stats = ctx.require("word-stats") as z.output<typeof wordStats.schemas.output>;
    const cover = ctx.require("render-cover") as z.output<typeof renderCover.schemas.output>;
    const translation = ctx.require("translate-batch") as { sentences: string[] };
    // Read what the workers uploaded, through the orchestrator's own store: proof the bytes arrived.
    const statsBytes = await ctx.artifacts.get(stats.artifactKey);
    if (!statsBytes) throw new Error(`stats artifact ${stats.artifactKey} is missing`);
    const stored = JSON.parse(new TextDecoder().decode(statsBytes)) as { words: number };
    if (stored.words !== stats.words) throw new Error("stats.json does not match the worker's report");
    const body = {
      title: doc.title,
      words: stats.words,
      topWords: stats.topWords,
      translation: translation.sentences,
      artifacts: { document: doc.artifactKey, stats: stats.artifactKey, cover: cover.artifactKey },
      ranBy: { "word-stats": stats.worker, "render-cover": cover.worker },
      taskAttempts: { "word-stats": stats.attempt, "render-cover": cover.attempt },
    };
    const put = await ctx.artifacts.put("report.json", JSON.stringify(body, null, 2), { contentType: "application/json" });
    return { output: { ...body, artifacts: { ...body.artifacts, report: put.key } } };
  },
});

/** Binds the remote stages to the orchestrator's broker (docs/remote-workers.md). */
export function createWorkflows({ remote }: WorkflowModuleContext) {
  const onWorker = { queue: EXAMPLE_QUEUE, stageCodeVersion: EXAMPLE_CODE_VERSION, pollIntervalMs: 500, maxWaitMs: 120_000 };
  return [
    new WorkflowBuilder(
      EXAMPLE_WORKFLOW_ID,
      "Document report",
      "fetch a document; word stats and a cover on workers and a summary in parallel; a batch translation; a report",
      ExampleInput,
      ReportOutput,
    )
      .pipe(fetchDocument)
      .parallel([remote.stage(wordStats, onWorker), remote.stage(renderCover, onWorker), summarize])
      .pipe(translate)
      .pipe(report)
      .build(),
  ];
}

/**
 * The demo workflow, reusable on any adapters: fetch a document → word stats and a summary in
 * parallel → a batch translation that suspends and resumes → a report.
 */
import { z } from "zod";
import { WorkflowBuilder } from "../src/builder/index.js";
import { Decision } from "../src/conventions/index.js";
import { NonRetryableStageError, defineAsyncBatchStage, defineStage } from "../src/stages/index.js";
import { DEMO_CORPUS } from "./corpus.js";
import type { TranslationService } from "./translation-service.js";

export const DOCUMENT_WORKFLOW_ID = "document-report";

const documentSchema = z.object({ documentId: z.string(), title: z.string(), text: z.string(), artifactKey: z.string() });
const statsSchema = z.object({
  words: z.number().int(),
  uniqueWords: z.number().int(),
  readingTimeSec: z.number(),
  topWords: z.array(z.object({ word: z.string(), count: z.number().int() })),
});
const summarySchema = z.object({ sentences: z.array(z.string()), totalSentences: z.number().int() });
const translationSchema = z.object({ language: z.string(), sentences: z.array(z.string()), batchId: z.string() });

export const reportSchema = z.object({
  title: z.string(),
  words: z.number().int(),
  uniqueWords: z.number().int(),
  readingTimeSec: z.number(),
  topWords: z.array(z.string()),
  summary: z.array(z.string()),
  translation: z.object({ language: z.string(), sentences: z.array(z.string()) }),
});
export type DocumentReport = z.output<typeof reportSchema>;

const STOP_WORDS = new Set(
  "a an and as at by for from in is it of on or so such the to when where which who with was were be are its this that".split(" "),
);

function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/[a-z']+/g) ?? [];
}

function sentencesOf(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export interface DocumentWorkflowDeps {
  translator: TranslationService;
  /** Documents to fetch from; defaults to the bundled corpus. */
  corpus?: Readonly<Record<string, { title: string; text: string }>>;
}

/** Builds the demo workflow around an external translation service. */
export function createDocumentWorkflow(deps: DocumentWorkflowDeps) {
  const corpus = deps.corpus ?? DEMO_CORPUS;

  const fetchDocument = defineStage({
    id: "fetch-document",
    name: "Fetch document",
    schemas: {
      input: z.object({ documentId: z.string().min(1) }),
      output: documentSchema,
      config: z.object({ maxChars: z.number().int().positive().default(20_000) }),
    },
    async execute(ctx) {
      const doc = corpus[ctx.input.documentId];
      // Another attempt would not find it either: fail the stage now instead of retrying.
      if (!doc) throw new NonRetryableStageError(`no document "${ctx.input.documentId}"`);
      const text = doc.text.slice(0, ctx.config.maxChars);
      const { key } = await ctx.artifacts.put("document.txt", text, { contentType: "text/plain" });
      await ctx.log("INFO", "fetched document", { chars: text.length, artifact: key });
      return { output: { documentId: ctx.input.documentId, title: doc.title, text, artifactKey: key } };
    },
  });

  const wordStats = defineStage({
    id: "word-stats",
    name: "Word statistics",
    schemas: {
      input: documentSchema,
      output: statsSchema,
      config: z.object({ topN: z.number().int().positive().default(5), wordsPerMinute: z.number().positive().default(230) }),
    },
    async execute(ctx) {
      const words = wordsOf(ctx.input.text);
      const counts = new Map<string, number>();
      for (const w of words) if (!STOP_WORDS.has(w) && w.length > 2) counts.set(w, (counts.get(w) ?? 0) + 1);
      const topWords = [...counts.entries()]
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .slice(0, ctx.config.topN)
        .map(([word, count]) => ({ word, count }));
      return {
        output: {
          words: words.length,
          uniqueWords: new Set(words).size,
          readingTimeSec: Math.round((words.length / ctx.config.wordsPerMinute) * 60),
          topWords,
        },
        customMetrics: { words: words.length },
      };
    },
  });

  const summarize = defineStage({
    id: "summarize",
    name: "Extractive summary",
    schemas: { input: documentSchema, output: summarySchema, config: z.object({ maxSentences: z.number().int().positive().default(2) }) },
    async execute(ctx) {
      const sentences = sentencesOf(ctx.input.text);
      // Score a sentence by how many of the document's frequent words it carries.
      const freq = new Map<string, number>();
      for (const w of wordsOf(ctx.input.text)) if (!STOP_WORDS.has(w)) freq.set(w, (freq.get(w) ?? 0) + 1);
      const scored = sentences.map((s, i) => ({
        s,
        i,
        score: wordsOf(s).reduce((n, w) => n + (freq.get(w) ?? 0), 0) / Math.max(1, wordsOf(s).length),
      }));
      const picked = scored
        .sort((a, b) => b.score - a.score)
        .slice(0, ctx.config.maxSentences)
        .sort((a, b) => a.i - b.i)
        .map((x) => x.s);
      ctx.annotate(Decision.rationale, `picked ${picked.length} of ${sentences.length} sentences by word frequency`);
      return { output: { sentences: picked, totalSentences: sentences.length } };
    },
  });

  return (
    new WorkflowBuilder(
      DOCUMENT_WORKFLOW_ID,
      "Document report",
      "Fetches a document, analyses it, translates its summary in a batch and reports",
      z.object({ documentId: z.string().min(1) }),
      reportSchema,
    )
      .pipe(fetchDocument)
      .parallel([wordStats, summarize])
      // The last two stages are defined inline so ctx.require is typed from the stages before them.
      .pipe(
        defineAsyncBatchStage({
          id: "translate-batch",
          name: "Batch translation",
          schemas: {
            input: "none",
            output: translationSchema,
            config: z.object({
              language: z.string().default("pig-latin"),
              pollIntervalMs: z.number().int().positive().default(50),
              maxWaitMs: z.number().int().positive().default(60_000),
            }),
          },
          async execute(ctx) {
            const summary = ctx.require("summarize");
            const batchId = await deps.translator.submit(summary.sentences, ctx.config.language);
            await ctx.log("INFO", "submitted translation batch", { batchId, sentences: summary.sentences.length });
            return {
              suspended: true,
              state: { batchId, language: ctx.config.language },
              // No nextPollAt: the kernel schedules the first check on its own clock.
              pollConfig: { pollInterval: ctx.config.pollIntervalMs, maxWaitTime: ctx.config.maxWaitMs },
            };
          },
          async checkCompletion(state: { batchId: string; language: string }, ctx) {
            const status = await deps.translator.status(state.batchId);
            if (status.state === "unknown") return { ready: false, error: `translation batch ${state.batchId} is unknown to the service` };
            if (status.state === "running") return { ready: false, nextCheckIn: ctx.config.pollIntervalMs };
            return { ready: true, output: { language: state.language, sentences: status.translations, batchId: state.batchId } };
          },
        }),
      )
      .pipe(
        defineStage({
          id: "report",
          name: "Report",
          schemas: { input: "none", output: reportSchema, config: z.object({}) },
          async execute(ctx) {
            const doc = ctx.require("fetch-document");
            const stats = ctx.require("word-stats");
            const summary = ctx.require("summarize");
            const translation = ctx.require("translate-batch");
            return {
              output: {
                title: doc.title,
                words: stats.words,
                uniqueWords: stats.uniqueWords,
                readingTimeSec: stats.readingTimeSec,
                topWords: stats.topWords.map((w) => w.word),
                summary: summary.sentences,
                translation: { language: translation.language, sentences: translation.sentences },
              },
            };
          },
        }),
      )
      .build()
  );
}

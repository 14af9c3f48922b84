/** The demo's closing summary: outcome, per-stage attempts and durations, who ran what, artifacts, trace. */
import { relative } from "node:path";
import type { WatchResult } from "../../adapters/jetstream/api/watch-run.js";
import type { ApiReply } from "../../src/contract/api-messages.js";
import type { Presigner } from "../../src/ports/presigner.js";
import type { DevStack } from "../../cli/dev/stack.js";

interface ReportOutput {
  artifacts: Record<string, string>;
  ranBy: Record<string, string>;
  taskAttempts: Record<string, number>;
  topWords: string[];
  translation: string[];
}

export async function printSummary(o: {
  result: WatchResult;
  run: ApiReply<"runs.get">;
  stack: DevStack;
  traceId: string;
  presigner: Presigner;
  elapsedMs: number;
  chaos: boolean;
  refused: string[];
  say: (line: string) => void;
}): Promise<boolean> {
  const { say, run, stack } = o;
  const out = (o.result.output ?? {}) as Partial<ReportOutput>;
  const pidOf = (id: string) => stack.workers.find((w) => w.id === id)?.pid;
  say("");
  say(
    `run ${run.run.id}: ${o.result.status}${o.result.error ? ` — ${o.result.error}` : ""} (demo total ${(o.elapsedMs / 1000).toFixed(1)} s)`,
  );
  say("");
  say("  stage            attempt  duration  ran by");
  for (const s of [...run.stages].sort((a, b) => a.groupIndex - b.groupIndex)) {
    const ms = s.startedAt && s.completedAt ? Date.parse(s.completedAt) - Date.parse(s.startedAt) : undefined;
    const worker = out.ranBy?.[s.stageId];
    // A remote stage's kernel attempt stays 1 while its task is redelivered; the task's attempt is the one to show.
    const attempt = out.taskAttempts?.[s.stageId] ?? s.attempt;
    const who = worker ? `${worker} (worker process, pid ${pidOf(worker) ?? "?"})` : `orchestrator (pid ${process.pid})`;
    say(
      `  ${s.stageId.padEnd(16)} ${String(attempt).padStart(7)}  ${ms !== undefined ? `${(ms / 1000).toFixed(2)} s`.padStart(8) : "       -"}  ${who}  ${s.status}`,
    );
  }
  let ok = o.result.status === "COMPLETED";
  if (out.artifacts) {
    say("");
    say(`  artifacts in S3 bucket ${stack.s3.bucket} (${stack.urls.s3}):`);
    const how: Record<string, string> = {
      document: "put by the orchestrator; workers downloaded it through presigned GET URLs",
      stats: `uploaded by ${out.ranBy?.["word-stats"]} through a presigned PUT URL`,
      cover: `uploaded by ${out.ranBy?.["render-cover"]} through a presigned PUT URL`,
      report: "put by the orchestrator after reading stats.json back",
    };
    for (const [name, key] of Object.entries(out.artifacts)) say(`    ${name.padEnd(8)} ${key}\n             ${how[name] ?? ""}`);
    if (out.artifacts.cover) {
      // Presigned here as the orchestrator presigns for workers: anyone holding the URL may GET this one object, for 15 minutes.
      const { url } = await o.presigner.presignGet(out.artifacts.cover, { expiresInSec: 900 });
      const res = await fetch(url);
      const bytes = (await res.arrayBuffer()).byteLength;
      say(`  presigned GET of the cover: HTTP ${res.status}, ${bytes} bytes`);
      say(`    ${url}`);
      ok &&= res.ok;
    }
  }
  if (out.translation) say(`\n  translation (async batch): ${out.translation.join(" ")}`);
  if (o.chaos) {
    const attempts = out.taskAttempts?.["word-stats"] ?? 0;
    say(
      `\n  chaos: word-stats completed on task attempt ${attempts}; ${o.refused.length} late report(s) refused by the broker (fencing)` +
        (o.refused.length ? "" : " — expected one"),
    );
    ok &&= attempts >= 2 && o.refused.length > 0;
  }
  const dir = relative(process.cwd(), stack.logDir.replace(/\/logs$/, "")) || ".";
  say("");
  say(`  trace id: ${o.traceId}  (set OTEL_EXPORTER_OTLP_ENDPOINT to export it to your tracing backend)`);
  say(`  logs: ${relative(process.cwd(), stack.logDir)}/ (orchestrator.log, worker-*.log)`);
  say("");
  say("  see this run again — the demo's state persists; start its stack and ask for it:");
  say(`    npx jetflow dev --dir ${dir}`);
  say(`    JETFLOW_NATS_URL=<its NATS url> JETFLOW_NATS_CREDS=${dir}/nats-auth/orchestrator.creds npx jetflow runs get ${run.run.id}`);
  return ok;
}

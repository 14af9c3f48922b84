/** The block `jetflow dev` prints once everything runs: where things are and what to try next. */
import { relative } from "node:path";
import type { DevStack } from "./stack.js";

/** Quotes a shell word when it needs it. */
const sh = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The printed block; `cwd` makes paths short when they are below it. */
export function renderBanner(stack: DevStack, cwd: string, exampleInput: string | undefined): string {
  const rel = (p: string) => {
    const r = relative(cwd, p);
    return r.startsWith("..") ? p : `./${r}`;
  };
  const workflowId = stack.workflowIds[0] ?? "<workflow-id>";
  const env = [`JETFLOW_NATS_URL=${stack.urls.nats}`, ...(stack.cliCreds ? [`JETFLOW_NATS_CREDS=${rel(stack.cliCreds)}`] : [])];
  const lines = [
    "",
    "jetflow dev is running — Ctrl+C stops everything",
    "",
    `  NATS        ${stack.urls.nats}   (${stack.sources.nats}, JetStream, operator mode)`,
    `  Postgres    ${stack.urls.postgres}   (${stack.sources.postgres})`,
    `  S3          ${stack.urls.s3}   (${stack.sources.s3}, bucket jetflow)`,
    `  console     ${stack.urls.console}   (web console: runs, timelines, workers)`,
    `  health      ${stack.urls.health}`,
    `  workflows   ${stack.workflowIds.join(", ") || "(none)"} from ${rel(stack.workflows)}`,
    ...stack.workers.map(
      (w, i) =>
        `  ${i === 0 ? "workers  " : "         "}   ${w.id} (pid ${w.pid}${w.labels ? `, ${w.labels}` : ""}) on queue ${stack.queue} ${stack.codeVersion}` +
        (w.credsFile ? `, creds ${rel(w.credsFile)}` : ""),
    ),
    ...(stack.cliCreds ? [`  creds       ${rel(stack.cliCreds)}  (full access: for the CLI and orchestrators)`] : []),
    `  logs        ${rel(stack.logDir)}/`,
    "",
    "Try next, in another shell in this directory:",
    `  export ${env.join(" ")}`,
    `  npx jetflow runs create ${workflowId} --input ${sh(exampleInput ?? "{}")} --wait`,
    "  npx jetflow workers list",
    "  npx jetflow stats",
    "",
  ];
  return lines.join("\n");
}

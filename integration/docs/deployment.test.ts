// test-file-timeout-ms: 300000
// README's "Running a deployment", run as written: its nats.conf and orchestrator.json, then every
// command of its shell block in order, with docs/getting-started.md's workflows.ts and
// activities.mjs. Only addresses change (free ports, a database of its own, the harness's S3 and
// nats-server binary) and `npx jetflow` runs this clone's bin. Lines ending in `&` are services:
// each must report ready before the next line runs; every other line must exit 0.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { findNatsServerBinary, freePort, services, waitForPort, type Services } from "../harness/index.js";

const root = resolve(import.meta.dirname, "..", "..");
const svc: Services<"postgres" | "s3"> | null = await services(["postgres", "s3"]);
const natsBin = findNatsServerBinary().bin;
const t = svc && natsBin ? test : test.skip;
const dir = join(root, ".tmp", `readme-deployment-${process.pid}`);
const database = `jetflow_readme_${process.pid}`;
const background: { line: string; child: ChildProcess; log(): string }[] = [];

/** The fenced block right after the line naming `file` (e.g. "`nats.conf`:"). */
function fileBlock(markdown: string, file: string): string {
  const m = markdown.match(new RegExp(`^\`${file.replace(".", "\\.")}\`(?: \\(.*\\))?:\\n\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\\n\`\`\`$`, "m"));
  assert.ok(m, `no block for ${file}`);
  return m[1]!;
}

/** README's deployment section. */
function section(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const start = readme.indexOf("## Running a deployment");
  return readme.slice(start, readme.indexOf("\n## ", start + 1));
}

test.after(async () => {
  for (const b of background.reverse()) {
    if (b.child.exitCode === null && b.child.signalCode === null) {
      b.child.kill("SIGTERM");
      const gone = await Promise.race([
        new Promise<boolean>((r) => b.child.once("exit", () => r(true))),
        new Promise<boolean>((r) => setTimeout(r, 15_000, false)),
      ]);
      if (!gone) b.child.kill("SIGKILL");
    }
  }
  if (svc) spawnSync("dropdb", ...dropArgs());
  rmSync(dir, { recursive: true, force: true });
  await svc?.stop();
});

function dropArgs(): [string[], { encoding: "utf8" }] {
  const u = new URL(svc!.postgres.url);
  return [
    ["--if-exists", "--force", "-h", u.hostname, "-p", u.port || "5432", "-U", u.username || "postgres", database],
    { encoding: "utf8" },
  ];
}

/** Runs one line with bash in the deployment dir (bounded): exit status and output. */
function runLine(line: string, env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn("bash", ["-c", line], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("close", (status) => {
      clearTimeout(timer);
      res({ status, stdout, stderr });
    });
  });
}

/** Starts a `&` line and resolves once it is ready (bounded). */
async function startService(line: string, env: NodeJS.ProcessEnv, natsPort: number): Promise<void> {
  const child = spawn("bash", ["-c", `exec ${line}`], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (c) => (log += c));
  child.stderr!.on("data", (c) => (log += c));
  background.push({ line, child, log: () => log });
  const exited = new Promise<never>((_, rej) => child.once("exit", (c) => rej(new Error(`\`${line}\` exited ${c}:\n${log}`))));
  const ready = line.includes("nats-server")
    ? waitForPort({ host: "127.0.0.1", port: natsPort, greeting: "INFO ", deadlineMs: 30_000 })
    : new Promise<void>((res, rej) => {
        const marker = line.includes(" orchestrator ") ? "orchestrator started" : '"worker started"';
        const timer = setTimeout(() => rej(new Error(`\`${line}\` not ready in 60 s:\n${log}`)), 60_000);
        const check = () => log.includes(marker) && (clearTimeout(timer), res());
        child.stdout!.on("data", check);
        child.stderr!.on("data", check);
      });
  await Promise.race([ready, exited]);
}

t("README's deployment section runs as written and completes a run on a worker", async () => {
  mkdirSync(dir, { recursive: true });
  const u = new URL(svc!.postgres.url);
  const pg = `${u.hostname}:${u.port || 5432}`;
  const natsPort = await freePort();
  const healthPort = await freePort();
  const readmeSection = section();
  const guide = readFileSync(join(root, "docs", "getting-started.md"), "utf8");
  const addresses = (text: string) =>
    text
      .replaceAll("127.0.0.1:4222", `127.0.0.1:${natsPort}`)
      .replaceAll("127.0.0.1:5432/jetflow", `${pg}/${database}`)
      .replaceAll("postgres://postgres@", `postgres://${u.username || "postgres"}@`);

  writeFileSync(join(dir, "workflows.ts"), fileBlock(guide, "workflows.ts"));
  writeFileSync(join(dir, "activities.mjs"), fileBlock(guide, "activities.mjs"));
  writeFileSync(join(dir, "nats.conf"), addresses(fileBlock(readmeSection, "nats.conf")));
  const config = JSON.parse(addresses(fileBlock(readmeSection, "orchestrator.json"))) as { s3: Record<string, unknown> };
  Object.assign(config.s3, {
    bucket: svc!.s3.bucket,
    endpoint: svc!.s3.endpoint,
    region: svc!.s3.region,
    accessKeyId: svc!.s3.accessKeyId,
    secretAccessKey: svc!.s3.secretAccessKey,
  });
  writeFileSync(join(dir, "orchestrator.json"), JSON.stringify(config, null, 2));

  const block = readmeSection.match(/```sh\n([\s\S]*?)\n```/);
  assert.ok(block, "README's deployment section has a sh block");
  const lines = block[1]!.split("\n").filter((l) => l.trim() && !l.trim().startsWith("#"));
  assert.ok(
    lines.some((l) => l.startsWith("createdb")),
    "the database is created",
  );
  const env: NodeJS.ProcessEnv = { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1", NO_COLOR: "1" };
  for (const k of ["JETFLOW_NATS_URL", "NATS_URL", "JETFLOW_NATS_CREDS", "JETFLOW_DATABASE_URL", "DATABASE_URL"]) delete env[k];
  const outputs: string[] = [];
  for (const raw of lines) {
    let line = addresses(raw)
      .replaceAll("npx jetflow ", `${process.execPath} ${join(root, "bin", "jetflow.js")} `)
      .replace(/^nats-server /, `${natsBin} `)
      .replace("--health-port 9464", `--health-port ${healthPort}`);
    if (line.startsWith("createdb "))
      line = line
        .replace("createdb ", `createdb -p ${u.port || 5432} `)
        .replace(/-U postgres jetflow\b/, `-U ${u.username || "postgres"} ${database}`);
    const bg = line.match(/^(.*?)\s&\s*(#.*)?$/);
    if (bg) {
      await startService(bg[1]!, env, natsPort);
      continue;
    }
    if (line.startsWith("export ")) {
      for (const [, k, v] of line.matchAll(/([A-Z_]+)=(\S+)/g)) env[k!] = v!;
      continue;
    }
    // Not spawnSync: the harness's S3 server answers the worker from this process's event loop.
    const r = await runLine(line, env);
    const services = background.map((b) => `--- ${b.line}\n${b.log().slice(-2000)}`).join("\n");
    assert.is(r.status, 0, `\`${raw}\` exited ${r.status}:\n${r.stdout}\n${r.stderr}\n${services}`);
    outputs.push(r.stdout);
  }
  const runOutput = outputs.find((o) => o.includes("submitted, waiting"));
  assert.ok(runOutput, outputs.join("\n"));
  assert.match(runOutput, /"text": "HELLO!"/);
  assert.match(runOutput, /"reportKey": "runs\/[^/]+\/shout\//);
});

test.run();

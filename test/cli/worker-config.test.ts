/**
 * `jetflow worker --config worker.toml|worker.json`: the file gives every setting (seed 004's
 * fields included), relative paths mean the file's directory, flags and env win over the file, and
 * a bad file is refused with an error naming the file and each bad field.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseWorkerArgs, type WorkerOptions } from "../../worker-sdk/cli/worker-command.js";
import { runWorkerCli } from "../../worker-sdk/cli/main.js";

const dir = mkdtempSync(join(tmpdir(), "jetflow-worker-config-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

function parse(argv: string[], env: NodeJS.ProcessEnv = {}): WorkerOptions {
  const r = parseWorkerArgs(argv, env);
  if (r.help) throw new Error("help");
  return r.options;
}

function refusal(argv: string[]): string {
  try {
    parseWorkerArgs(argv, {});
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected the arguments to be refused");
}

const TOML = `
queue = "render"
code_version = "v3"
module = "./activities.mjs"
worker_id = "render-gpu-7"
max_concurrent_tasks = 4
work_dir = "scratch"
health_port = 9464
log_level = "warn"
fleet = false

[nats]
servers = ["nats://a:4222", "nats://b:4222"]
creds = "worker.creds"

[labels]
gpu = "a100"
region = "eu"
`;

test("a TOML file gives every setting; relative paths resolve against the file's directory", () => {
  const o = parse(["--config", file("worker.toml", TOML)]);
  assert.is(o.queue, "render");
  assert.is(o.codeVersion, "v3");
  assert.is(o.module, join(dir, "activities.mjs"));
  assert.is(o.workerId, "render-gpu-7");
  assert.is(o.concurrency, 4);
  assert.is(o.workDir, join(dir, "scratch"));
  assert.is(o.healthPort, 9464);
  assert.is(o.logLevel, "warn");
  assert.is(o.fleet, false);
  assert.is(o.servers, "nats://a:4222,nats://b:4222");
  assert.is(o.creds, join(dir, "worker.creds"));
  assert.equal(o.labels, { gpu: "a100", region: "eu" });
  assert.is(o.pollMs, 5_000, "what the file leaves out keeps its default");
});

test("a JSON file works the same; a package name as module stays a package name; nats.url is one server", () => {
  const path = file(
    "worker.json",
    JSON.stringify({ queue: "q", code_version: "v1", module: "@acme/activities", nats: { url: "nats://c:4222" }, labels: { os: "linux" } }),
  );
  const o = parse(["-c", path]);
  assert.equal([o.queue, o.module, o.servers, o.labels], ["q", "@acme/activities", "nats://c:4222", { os: "linux" }]);
});

test("flags and env win over the file; the file wins over the defaults", () => {
  const path = file("worker.toml", TOML);
  const o = parse(["--config", path, "--queue", "other", "--concurrency", "9", "--labels", "gpu=h100", "--work-dir", "/tmp/w", "--fleet"], {
    JETFLOW_NATS_CREDS: "/etc/env.creds",
  });
  assert.is(o.queue, "other");
  assert.is(o.concurrency, 9);
  assert.equal(o.labels, { gpu: "h100" }, "the flag's labels replace the file's");
  assert.is(o.workDir, "/tmp/w");
  assert.is(o.fleet, true);
  assert.is(o.creds, "/etc/env.creds", "env beats the file");
  assert.is(o.codeVersion, "v3", "from the file");
  const viaEnv = parse([], { JETFLOW_WORKER_CONFIG: path });
  assert.is(viaEnv.queue, "render", "JETFLOW_WORKER_CONFIG names the file too");
});

test("a bad file is refused with the file and each bad field named", () => {
  const bad = file(
    "bad.toml",
    `queue = "q"\ncode_version = "v1"\nmodule = "./m.mjs"\nmax_concurrent_tasks = "four"\nhealth_port = 70000\ncolour = "red"\n[nats]\nurl = "nats://x"\nservers = ["nats://y"]\n`,
  );
  const msg = refusal(["--config", bad]);
  assert.ok(msg.startsWith(`config file ${bad}: `), msg);
  assert.match(msg, /max_concurrent_tasks: /);
  assert.match(msg, /health_port: /);
  assert.match(msg, /colour: unknown key/, "an unknown key is named as a field");
  assert.match(msg, /nats\.servers: give either url or servers, not both/);

  const broken = file("broken.toml", `queue = "q"\ncode_version = \n`);
  assert.match(refusal(["--config", broken]), new RegExp(`^config file ${broken}: not valid TOML: `));
  const brokenJson = file("broken.json", `{"queue": `);
  assert.match(refusal(["--config", brokenJson]), /broken\.json: not valid JSON: /);
  assert.match(refusal(["--config", file("worker.yaml", "queue: q")]), /worker\.yaml: must end in \.toml or \.json/);
  assert.match(refusal(["--config", join(dir, "missing.toml")]), /missing\.toml: cannot be read/);
  assert.match(refusal(["--config", file("partial.toml", `queue = "q"\n`)]), /--code-version/, "still required from somewhere");
});

test("the worker CLI reports a bad config file on one line and exits 1, before connecting", async () => {
  const errors: string[] = [];
  const code = await runWorkerCli("worker", ["--config", file("bad2.toml", "max_concurrent_tasks = 0\n")], {
    err: (t) => void errors.push(t),
  });
  assert.is(code, 1);
  assert.match(errors.join(""), /^error CONFIG: config file .*bad2\.toml: max_concurrent_tasks: /);
});

test.run();

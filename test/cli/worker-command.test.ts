/**
 * `jetflow worker`: flags are validated with errors naming each flag, the stage module is
 * checked before connecting, and nothing the command can load reaches postgres, @aws-sdk or an
 * adapter (a worker machine holds no database or storage credential).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { cruise, type ICruiseResult } from "dependency-cruiser";
import { parseWorkerArgs, type WorkerOptions } from "../../worker-sdk/cli/worker-command.js";
import { loadStageModule } from "../../worker-sdk/cli/run-worker.js";

const root = join(import.meta.dirname, "..", "..");
const base = ["--queue", "default", "--code-version", "v1", "--module", "./activities.js"];
const parse = (...flags: string[]): WorkerOptions => {
  const r = parseWorkerArgs([...base, ...flags], {});
  if (r.help) throw new Error("help");
  return r.options;
};

test("flags parse: labels become a record, numbers are coerced, the scoped inbox needs no flag", () => {
  const o = parse(
    "--concurrency",
    "4",
    "--labels",
    "gpu=a100, region=eu",
    "--user",
    "worker-default",
    "--password",
    "p",
    "--heartbeat-ms",
    "250",
  );
  assert.is(o.concurrency, 4);
  assert.equal(o.labels, { gpu: "a100", region: "eu" });
  assert.is(o.heartbeatMs, 250);
  assert.is(o.inboxPrefix, undefined);
  assert.ok(o.workerId.startsWith("worker-"));
});

test("bad flags are refused, each one named", () => {
  const fails = (flags: string[], re: RegExp) => {
    try {
      parse(...flags);
    } catch (err) {
      assert.match((err as Error).message, re);
      return;
    }
    assert.unreachable(`accepted ${flags.join(" ")}`);
  };
  fails(["--concurrency", "0"], /--concurrency/);
  fails(["--labels", "gpu"], /--labels: "gpu" is not key=value/);
  fails(["--queue", ""], /--queue/);
  fails(["--user", "u", "--password", "p", "--creds", "/x.creds"], /--creds: give either --creds or --user/);
  fails(["--user", "u"], /--password: is required with --user/);
  fails(["--heartbeat-ms", "soon"], /--heartbeat-ms/);
  fails(["--heartbeatms", "5"], /Unknown option '--heartbeatms'/);
});

test("the stage module must export stage definitions", async () => {
  const bad = async (file: string, re: RegExp) => {
    try {
      await loadStageModule(file, "v1");
    } catch (err) {
      assert.match((err as Error).message, re);
      return;
    }
    assert.unreachable(`loaded ${file}`);
  };
  await bad(join(root, "does-not-exist.js"), /does-not-exist\.js cannot be read/);
  await bad(join(root, "test/cli/worker-command.test.ts"), /must export "stages"/);
  await bad(join(root, "test/cli/fixtures/v2-module.ts"), /declares version "v2" but --code-version is "v1"/);
  const stages = await loadStageModule(join(root, "integration/remote/fixtures/artifact-stages.ts"), "v1");
  assert.equal([...stages.keys()], ["transform"]);
});

test("everything `jetflow worker` can load is credential-free: no postgres, no @aws-sdk, no adapters", async () => {
  const { output } = await cruise(
    ["cli/commands/worker.ts", "worker-sdk/cli/main.ts", "worker-sdk/cli/run-worker.ts"],
    {
      baseDir: root,
      tsPreCompilationDeps: true,
      tsConfig: { fileName: join(root, "tsconfig.json") },
      doNotFollow: { path: "(^|/)node_modules/" },
    },
    { extensionAlias: { ".js": [".ts", ".js"] } },
  );
  const reached = (output as ICruiseResult).modules.map((m) => m.source);
  assert.ok(
    reached.some((s) => s.startsWith("worker-sdk/")),
    "the cruise followed the imports",
  );
  const forbidden = reached.filter((s) => /node_modules\/(postgres|@aws-sdk)\/|^adapters\//.test(s));
  assert.equal(forbidden, []);
});

test.run();

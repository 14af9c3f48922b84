// `jetflow workers list|status|drain|stop` as a user runs it (the real bin, a real nats-server).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { services } from "../harness/index.js";
import { gate, spec, stage } from "../../test/remote/helpers/fixture.js";
import { until } from "../remote/helpers.js";
import { QUEUE, VERSION, startFleet, type Fleet } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
let fleet: Fleet | null = null;
const release = gate();
const bin = fileURLToPath(new URL("../../bin/jetflow.js", import.meta.url));

test.after(async () => {
  release.open();
  await fleet?.close();
  await svc?.stop();
});

/** Runs the CLI without blocking this process's event loop (the workers live here). */
function jetflow(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const all = [...args, "--servers", svc!.nats.url, "--prefix", fleet!.topology.prefix];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...all],
      { env: { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1", NO_COLOR: "1" }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

t("workers list shows the fleet; drain stops a worker after its task; status/stop of a stopped worker fail clearly", async () => {
  fleet = await startFleet({ url: svc!.nats.url });
  const entered = gate();
  const heavy = stage("heavy", async (ctx) => {
    entered.open();
    await release.promise;
    return { output: { r: ctx.input.n } };
  });
  const a = await fleet.worker("alpha", { stages: { heavy }, labels: { gpu: "true" }, max: 2 });
  await fleet.worker("beta", { stages: { heavy: stage("heavy", async () => ({ output: { r: 0 } })) }, labels: { gpu: "false" }, max: 1 });
  const taskId = await fleet.orch.broker.submit(
    spec({ workflowRunId: "run-cli", queue: QUEUE, codeVersion: VERSION, requiredLabels: { gpu: "true" }, maxAttempts: 50 }),
  );
  await entered.promise;

  let list = await jetflow("workers", "list");
  await until(
    async () => {
      list = await jetflow("workers", "list");
      return /alpha\s.*1\/2\s+running/.test(list.stdout);
    },
    20_000,
    `the table to show alpha 1/2 running:\n${list.stdout}${list.stderr}`,
  );
  assert.is(list.code, 0, list.stderr);
  const lines = list.stdout.trim().split("\n");
  assert.match(lines[0]!, /^ID\s+QUEUE\s+LABELS\s+VERSION\s+IN-FLIGHT\s+STATUS\s+RESTARTS\s+CODE LOAD\s+LAST SEEN\s+LAST ERROR$/);
  // In-process workers report neither restarts nor a code load time: "-".
  assert.match(list.stdout, new RegExp(`alpha\\s+${QUEUE}\\s+gpu=true\\s+${VERSION}\\s+1/2\\s+running\\s+-\\s+-\\s+\\d+s ago\\s+-`));
  assert.match(list.stdout, /beta\s+default\s+gpu=false\s+v1\s+0\/1\s+running/);
  assert.is(lines.at(-1), `queue ${QUEUE}: 2 workers (2 running), in-flight 1, capacity 3`);

  const json = await jetflow("workers", "list", "--json");
  assert.is(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { id: string; inFlight: number; healthy: boolean }[];
  assert.equal(
    parsed.map((w) => w.id),
    ["alpha", "beta"],
  );
  assert.ok(parsed.every((w) => w.healthy));

  const drain = await jetflow("workers", "drain", "alpha");
  assert.is(drain.code, 0, drain.stderr);
  assert.match(drain.stdout, /worker alpha: draining, 1\/2 in flight/);
  release.open();
  await a.w.done();
  assert.is((await fleet.orch.broker.waitForOutcome(taskId, { timeoutMs: 10_000 }))?.status, "completed");

  const after = await jetflow("workers", "list");
  assert.match(after.stdout, /alpha\s.*0\/2\s+stopped/);
  assert.match(
    after.stdout,
    new RegExp(`^queue ${QUEUE}: 2 workers \\((1 running, 1 stopped|1 stopped, 1 running)\\), in-flight 0, capacity 1$`, "m"),
  );
  const stopAgain = await jetflow("workers", "stop", "alpha");
  assert.is.not(stopAgain.code, 0);
  assert.match(stopAgain.stderr, /no worker "alpha" is listening/);
});

test.run();

// The shipped nats-server.conf and `jetflow creds` must draw the same trust boundary: the subjects
// JETFLOW exports to WORKERS, the control export back, and the worker template's permissions are
// those of adapters/jetstream/auth/worker-permissions.ts. Also: no stream the orchestrator consumes
// captures reply subjects (`_R_.…`, `_INBOX…`) or anything the WORKERS account sends.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { createTopology } from "../../src/contract/topology.js";
import { controlExport, workerImports, workerPermissions, workerStreamImports } from "../../adapters/jetstream/auth/worker-permissions.js";
import { parseControlRequest } from "../../src/contract/fleet.js";

const conf = readFileSync(new URL("../../nats-server.conf", import.meta.url), "utf8").replace(/#.*$/gm, "");
const topology = createTopology();

/** The text of the `name { ... }` or `name: [ ... ]` block that starts at the first match of `start` after `from`. */
function block(text: string, start: RegExp, from = 0): string {
  const m = start.exec(text.slice(from));
  assert.ok(m, `${start} in nats-server.conf`);
  let i = from + m!.index + m![0].length;
  const open = text[i - 1]!;
  const close = open === "{" ? "}" : "]";
  let depth = 1;
  const begin = i;
  while (depth > 0 && i < text.length) {
    if (text[i] === open) depth++;
    else if (text[i] === close) depth--;
    i++;
  }
  return text.slice(begin, i - 1);
}
const quoted = (text: string) => [...text.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);

const jetflow = block(conf, /\bJETFLOW\s*\{/);
const workers = block(conf, /\bWORKERS\s*\{/);

test("JETFLOW exports exactly the worker imports (MSG.NEXT with stream responses) and the cancel-notice stream, only to WORKERS", () => {
  const exports = block(jetflow, /exports\s*:\s*\[/);
  const lines = exports.split("\n").filter((l) => l.includes("service"));
  assert.equal(
    quoted(lines.join("\n")).sort(),
    workerImports(topology)
      .map((s) => s.subject)
      .sort(),
  );
  for (const s of workerImports(topology)) {
    const line = lines.find((l) => l.includes(`"${s.subject}"`))!;
    assert.match(line, /accounts:\s*\[WORKERS\]/, s.subject);
    assert.is(/response_type:\s*stream/.test(line), s.responseType === "Stream", `${s.subject} response type`);
  }
  const streams = exports.split("\n").filter((l) => /\bstream:/.test(l));
  assert.equal(
    streams.map((l) => quoted(l)[0]),
    workerStreamImports(topology).map((s) => s.subject),
  );
  for (const l of streams) assert.match(l, /accounts:\s*\[WORKERS\]/);
  assert.equal(quoted(block(jetflow, /imports\s*:\s*\[/)), [controlExport(topology).subject]);
});

test("WORKERS imports exactly those, exports only control, and has no JetStream", () => {
  assert.equal(
    quoted(block(workers, /imports\s*:\s*\[/)).sort(),
    [...workerImports(topology), ...workerStreamImports(topology)].map((s) => s.subject).sort(),
  );
  assert.equal(quoted(block(workers, /exports\s*:\s*\[/)), [controlExport(topology).subject]);
  assert.not.match(workers, /jetstream/);
});

test("the worker template user has exactly workerPermissions(default, v1, labels gpu=true, worker id worker-default)", () => {
  const want = workerPermissions(topology, {
    queue: "default",
    codeVersion: "v1",
    name: "worker-default",
    workerId: "worker-default",
    labels: { gpu: "true" },
  });
  const user = block(workers, /permissions\s*:\s*\{/, workers.indexOf("user: worker-default"));
  assert.equal(quoted(block(user, /publish\s*:\s*\{/)), want.publish);
  assert.equal(quoted(block(user, /subscribe\s*:\s*\{/)), want.subscribe);
  assert.match(user, /allow_responses:\s*true/);
});

test("no stream captures reply subjects or a subject only a worker can publish", () => {
  const filters = Object.values(topology.filters);
  for (const f of filters) assert.not.match(f, /^(_R_|_INBOX|\$JS\.API|\$JS\.ACK)/, f);
  const workerOnly = [controlExport(topology).subject, `${topology.prefix}.broker.*.*`];
  for (const f of filters) for (const w of workerOnly) assert.is.not(f.split(".")[1], w.split(".")[1], `${f} vs ${w}`);
});

test("a control request is a strict tagged body: a task, an empty body or extra fields are not one", () => {
  assert.ok(parseControlRequest(JSON.stringify({ type: "jetflow.worker.control", v: 1, op: "drain", workerId: "w1" })).ok);
  assert.not.ok(parseControlRequest("").ok);
  assert.not.ok(parseControlRequest(JSON.stringify({ op: "drain" })).ok);
  assert.not.ok(parseControlRequest(JSON.stringify({ type: "jetflow.worker.control", v: 1, op: "drain", workerId: "w1", x: 1 })).ok);
  assert.not.ok(parseControlRequest(JSON.stringify({ taskId: "t", stageId: "s", input: {} })).ok);
});

test.run();

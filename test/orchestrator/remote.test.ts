/**
 * The orchestrator's `remote` config section and the `createWorkflows({ remote })` hook: bad
 * config is refused naming the field, and remote stages can only be bound to queues and code
 * versions the orchestrator actually serves (anything else would wait forever). No I/O.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { loadOrchestratorConfig, type OrchestratorConfig } from "../../orchestrator/config.js";
import { loadWorkflowRegistry } from "../../orchestrator/load-workflows.js";
import { createOrchestratorRemote } from "../../orchestrator/remote.js";
import { InMemoryBlobStore } from "../../src/testing/in-memory-blob-store.js";
import { silentLogger } from "../../src/ports/logger.js";
import { transform } from "../../integration/remote/fixtures/artifact-stages.js";

const dir = mkdtempSync(join(tmpdir(), "jetflow-remote-config-"));
const workflows = join(import.meta.dirname, "../../integration/remote/fixtures/artifact-workflows.ts");
const s3 = { bucket: "jetflow-test", endpoint: "http://127.0.0.1:1", accessKeyId: "k", secretAccessKey: "s", forcePathStyle: true };
const queues = [{ queue: "default", codeVersion: "v1" }];

async function load(extra: Record<string, unknown>): Promise<OrchestratorConfig> {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    file,
    JSON.stringify({ workflows, database: { url: "postgres://127.0.0.1:1/none" }, nats: { servers: "nats://127.0.0.1:1" }, ...extra }),
  );
  return loadOrchestratorConfig(file, {});
}

async function refused(extra: Record<string, unknown>, re: RegExp): Promise<void> {
  try {
    await load(extra);
  } catch (err) {
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable(`accepted ${JSON.stringify(extra)}`);
}

function throws(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable("did not throw");
}

test("remote.uploadTicketSecret is optional, and refused when shorter than 16 characters", async () => {
  assert.is((await load({ s3, remote: { queues } })).remote?.uploadTicketSecret, undefined);
  assert.is((await load({ s3, remote: { queues, uploadTicketSecret: "x".repeat(16) } })).remote?.uploadTicketSecret, "x".repeat(16));
  await refused({ s3, remote: { queues, uploadTicketSecret: "short" } }, /remote\.uploadTicketSecret/);
});

test("the remote section gets defaults and is refused without s3, twice-listed, or with two leases per queue", async () => {
  const c = await load({ s3, remote: { queues } });
  assert.equal(c.remote?.queues, [{ queue: "default", codeVersion: "v1", maxDeliver: 5 }]);
  assert.is(c.remote?.leaseMs, 30_000);
  await refused({ remote: { queues } }, /remote: needs an "s3" section/);
  await refused({ s3, remote: { queues: [] } }, /remote\.queues: list at least one/);
  await refused({ s3, remote: { queues: [...queues, ...queues] } }, /remote\.queues\.1: queue "default" version "v1" is listed twice/);
  await refused(
    {
      s3,
      remote: {
        queues: [
          { queue: "q", codeVersion: "v1", leaseMs: 1000 },
          { queue: "q", codeVersion: "v2" },
        ],
      },
    },
    /queue "q" has two leases/,
  );
});

test("remote.stage binds only configured queues and versions; without a remote section it says what to add", async () => {
  const sql = postgres("postgres://127.0.0.1:1/none", { max: 1 }); // lazy: never connects here
  try {
    const deps = { sql, blobStore: new InMemoryBlobStore(), logger: silentLogger };
    const none = createOrchestratorRemote(await load({}), deps);
    assert.is(none.stages.enabled, false);
    throws(() => none.stages.stage(transform, { queue: "default", stageCodeVersion: "v1" }), /need a "remote" section/);
    await none.stop();

    const remote = createOrchestratorRemote(await load({ s3, remote: { queues } }), deps);
    throws(() => remote.stages.stage(transform, { queue: "gpu", stageCodeVersion: "v1" }), /queue "gpu" is not in remote\.queues/);
    throws(() => remote.stages.stage(transform, { queue: "default", stageCodeVersion: "v2" }), /no code version "v2"/);
    const bound = remote.stages.stage(transform, { queue: "default", stageCodeVersion: "v1" });
    assert.is(bound.mode, "async-batch");
    assert.equal(bound.remote, { queue: "default", stageCodeVersion: "v1" });

    const { ids } = await loadWorkflowRegistry(workflows, { remote: remote.stages });
    assert.equal(ids, ["artifact-roundtrip", "gpu-roundtrip"]);
    await remote.stop();
  } finally {
    await sql.end({ timeout: 1 });
  }
});

test("a createWorkflows module needs the orchestrator's context", async () => {
  try {
    await loadWorkflowRegistry(workflows);
  } catch (err) {
    assert.match((err as Error).message, /exports "createWorkflows", which needs the orchestrator's context/);
    return;
  }
  assert.unreachable("loaded without context");
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();

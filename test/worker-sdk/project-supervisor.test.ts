/**
 * A worker-service project whose worker loop dies is restarted with a growing delay on the real
 * ProjectWorker and activity worker (a transport that hands out a broken lease kills the loop),
 * and is marked failed with the crash's message and stack once the crash limit is reached; a
 * restart request starts it afresh with its crash count reset.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LeasedTask, WorkerTransport } from "../../worker-sdk/transport.js";
import { ProjectWorker } from "../../worker-sdk/project-worker.js";
import { ProjectSupervisor, restartDelayMs, type RestartPolicy } from "../../worker-sdk/project-supervisor.js";
import { silentWorkerLogger } from "../../worker-sdk/logger.js";

const dir = mkdtempSync(join(tmpdir(), "jetflow-supervisor-"));
const fixtureUrl = new URL("../remote/helpers/fixture.ts", import.meta.url).href;
const modulePath = join(dir, "acts.mjs");
writeFileSync(
  modulePath,
  `import { stage } from ${JSON.stringify(fixtureUrl)};
export const version = "v1";
export const stages = [stage("heavy", async (ctx) => ({ output: { r: ctx.input.n } }))];
`,
);
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A transport whose pulls find nothing, or, while `broken`, return a lease without a task: the poll loop dies on it. */
function fakeTransport(state: { broken: boolean; pulls: number[] }): WorkerTransport {
  const fail = () => Promise.reject(new Error("not used"));
  return {
    async next(_q, o) {
      state.pulls.push(Date.now());
      if (state.broken) return {} as LeasedTask;
      await new Promise((r) => setTimeout(r, Math.min(o.waitMs, 20)));
      return null;
    },
    heartbeat: fail,
    report: fail,
    release: fail,
    presign: fail,
  };
}

function supervisor(policy: RestartPolicy, state: { broken: boolean; pulls: number[] }) {
  const request = { project: "p", queue: "q", module: modulePath, watch: false };
  return new ProjectSupervisor({
    request,
    serviceId: "svc",
    policy,
    logger: silentWorkerLogger,
    launch: ({ firstGeneration, onCrash }) =>
      ProjectWorker.start({
        request,
        serviceId: "svc",
        makeTransport: () => fakeTransport(state),
        logger: silentWorkerLogger,
        isolation: "inline",
        pollWaitMs: 20,
        firstGeneration,
        onCrash,
      }),
  });
}

test("restart delays double from base up to max", () => {
  const p = { baseMs: 100, maxMs: 500, maxCrashes: 10, windowMs: 60_000 };
  assert.equal(
    [1, 2, 3, 4, 5].map((n) => restartDelayMs(p, n)),
    [100, 200, 400, 500, 500],
  );
});

test("a worker whose loop dies is restarted with backoff, then failed at the crash limit; restart resets it", async () => {
  const state = { broken: false, pulls: [] as number[] };
  const sup = supervisor({ baseMs: 80, maxMs: 1_000, maxCrashes: 3, windowMs: 60_000 }, state);
  await sup.start();
  assert.equal([sup.status().status, sup.status().generation, sup.status().restarts], ["running", 1, 0]);

  state.broken = true;
  await until(() => sup.status().status === "restarting", 5_000, "the first crash");
  const crashed = sup.status();
  assert.is(crashed.restarts, 0);
  assert.ok(crashed.lastError && crashed.lastError.stack, "the crash's message and stack");
  assert.ok(crashed.nextRestartAt);

  await until(() => sup.status().status === "failed", 10_000, "status failed");
  const failed = sup.status();
  assert.is(failed.restarts, 2, "two restarts, the third crash is the limit");
  assert.is(failed.generation, 3, "each restart is a new generation");
  assert.is(failed.nextRestartAt, null);
  assert.is(failed.workerId, "svc-p-g3");
  // One pull per generation (each one dies on its first lease): the gaps are the backoff.
  assert.is(state.pulls.length >= 3, true);
  const [a, b, c] = state.pulls.slice(-3);
  assert.ok(b! - a! >= 80 - 5, `first restart after >= 80 ms (${b! - a!})`);
  assert.ok(c! - b! >= 160 - 5, `second restart after >= 160 ms (${c! - b!})`);
  const pullsAtFailure = state.pulls.length;
  await new Promise((r) => setTimeout(r, 400));
  assert.is(state.pulls.length, pullsAtFailure, "a failed project is not restarted again");

  state.broken = false;
  await sup.restart();
  const again = sup.status();
  assert.equal([again.status, again.restarts, again.lastError, again.generation], ["running", 0, null, 4]);
  await sup.stop();
  assert.is(sup.status().status, "stopped");
});

test("a stop while the module is still loading waits for that worker and stops it", async () => {
  const state = { broken: false, pulls: [] as number[] };
  const request = { project: "slow", queue: "q", module: modulePath, watch: false };
  let launched = null as ProjectWorker | null;
  const sup = new ProjectSupervisor({
    request,
    serviceId: "svc",
    policy: { baseMs: 10, maxMs: 10, maxCrashes: 3, windowMs: 60_000 },
    logger: silentWorkerLogger,
    launch: async (o) => {
      await new Promise((r) => setTimeout(r, 150));
      launched = await ProjectWorker.start({
        request,
        serviceId: "svc",
        makeTransport: () => fakeTransport(state),
        logger: silentWorkerLogger,
        isolation: "inline",
        pollWaitMs: 20,
        ...o,
      });
      return launched;
    },
  });
  const starting = sup.start();
  await sup.stop();
  await starting;
  assert.ok(launched, "the load finished before stop() resolved");
  assert.is(launched!.status().status, "stopped", "and its worker was stopped, not left running");
  assert.is(sup.status().status, "stopped");
});

test("a crash at the first load is retried; any other start error is thrown", async () => {
  const state = { broken: false, pulls: [] as number[] };
  const throwing = join(dir, "throws.mjs");
  writeFileSync(throwing, `throw new Error("no config at load");\n`);
  const request = { project: "t", queue: "q", module: throwing, watch: false };
  const sup = new ProjectSupervisor({
    request,
    serviceId: "svc",
    policy: { baseMs: 10_000, maxMs: 10_000, maxCrashes: 3, windowMs: 60_000 },
    logger: silentWorkerLogger,
    launch: (o) =>
      ProjectWorker.start({ request, serviceId: "svc", makeTransport: () => fakeTransport(state), logger: silentWorkerLogger, ...o }),
  });
  await sup.start();
  const st = sup.status();
  assert.equal([st.status, st.restarts, st.generation], ["restarting", 0, 1]);
  assert.match(st.lastError!.message, /no config at load/);
  assert.match(st.lastError!.stack!, /throws\.mjs/, "the module's own stack");
  await sup.stop();
  assert.is(sup.status().status, "stopped", "stop cancels the pending restart");

  const missing = new ProjectSupervisor({
    request: { ...request, module: join(dir, "missing.mjs") },
    serviceId: "svc",
    policy: { baseMs: 10, maxMs: 10, maxCrashes: 3, windowMs: 60_000 },
    logger: silentWorkerLogger,
    launch: (o) =>
      ProjectWorker.start({
        request: { ...request, module: join(dir, "missing.mjs") },
        serviceId: "svc",
        makeTransport: () => fakeTransport(state),
        logger: silentWorkerLogger,
        ...o,
      }),
  });
  await missing.start().then(
    () => assert.unreachable("a missing module file is a bad request, not a crash"),
    (err: Error) => assert.match(err.message, /missing\.mjs/),
  );
});

test.run();

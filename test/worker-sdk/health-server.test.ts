// The supervisor-facing health endpoint: status code follows the report, failures are 503 not crashes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startHealthServer, type HealthReport } from "../../worker-sdk/health-server.js";

/** The rejection of `p` (uvu has no assert.rejects); fails the test if it resolves. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(
    () => null,
    (e: unknown) => e as Error,
  );
  if (!r) assert.unreachable("expected a rejection");
  return r!;
}

async function get(port: number, path = "/healthz"): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test("answers 200 with the report while healthy and 503 once it is not", async () => {
  let report: HealthReport = { healthy: true, status: "running", inFlight: 2, lastSuccessfulPull: "2026-11-23T10:00:00.000Z" };
  const h = await startHealthServer({ port: 0, report: () => report });
  try {
    const ok = await get(h.port);
    assert.is(ok.status, 200);
    assert.equal(ok.body, { healthy: true, status: "running", inFlight: 2, lastSuccessfulPull: "2026-11-23T10:00:00.000Z" });
    report = { healthy: false, status: "degraded", reason: "no pull for 90 s" };
    const bad = await get(h.port, "/");
    assert.is(bad.status, 503);
    assert.is(bad.body.reason, "no pull for 90 s");
  } finally {
    await h.close();
  }
});

test("a throwing report is a 503 naming the error; unknown paths are 404", async () => {
  const h = await startHealthServer({
    port: 0,
    report: async () => {
      throw new Error("database unreachable");
    },
  });
  try {
    const r = await get(h.port);
    assert.is(r.status, 503);
    assert.equal(r.body, { healthy: false, status: "error", error: "database unreachable" });
    assert.is((await get(h.port, "/metrics")).status, 404);
  } finally {
    await h.close();
  }
});

test("an invalid or taken port is refused at start", async () => {
  assert.match(
    (await rejection(startHealthServer({ port: 70_000, report: () => ({ healthy: true, status: "x" }) }))).message,
    /0\.\.65535/,
  );
  const first = await startHealthServer({ port: 0, report: () => ({ healthy: true, status: "x" }) });
  try {
    assert.match(
      (await rejection(startHealthServer({ port: first.port, report: () => ({ healthy: true, status: "x" }) }))).message,
      /EADDRINUSE/,
    );
  } finally {
    await first.close();
  }
});

test.run();

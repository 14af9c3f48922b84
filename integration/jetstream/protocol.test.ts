// The wire-protocol module on its own (no server): token encoding, names, and parse errors that name the field.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  createTopology,
  decodeToken,
  encodeToken,
  eventTypeFromToken,
  eventTypeToken,
  isSafeToken,
  parseEvent,
  parseJob,
  priorityToken,
  ProtocolError,
  toJobMessage,
  WORKFLOW_EVENT_TYPES as EVENT_TYPES,
} from "../../src/contract/index.js";

test("ids become one safe subject token, reversibly, and usual ids are unchanged", () => {
  for (const id of ["run_01HZX-abc", "a.b", "a*b>c", "with space\ttab", "~tilde", "é€😀", "a_b", "a~5Fb"]) {
    const token = encodeToken(id);
    assert.ok(isSafeToken(token.replaceAll("~", "_")), `${id} → ${token}`);
    assert.not.match(token, /[.*>\s]/);
    assert.is(decodeToken(token), id);
  }
  assert.is(encodeToken("run_01HZX-abc"), "run_01HZX-abc");
  assert.is(encodeToken("a.b"), "a~2Eb");
  assert.is.not(encodeToken("a.b"), encodeToken("a_b")); // injective
  assert.throws(
    () => encodeToken(""),
    (e: unknown) => e instanceof ProtocolError,
  );
  assert.throws(
    () => decodeToken("a.b"),
    (e: unknown) => e instanceof ProtocolError,
  );
  assert.throws(
    () => decodeToken("~C3"),
    (e: unknown) => e instanceof ProtocolError,
  ); // truncated UTF-8
});

test("event types map to readable tokens and back", () => {
  assert.is(eventTypeToken("workflow:completed"), "workflow_completed");
  for (const t of EVENT_TYPES) assert.is(eventTypeFromToken(eventTypeToken(t)), t);
});

test("priorities: default, p<n>, m<n>", () => {
  assert.is(priorityToken(0), "default");
  assert.is(priorityToken(undefined), "default");
  assert.is(priorityToken(7), "p7");
  assert.is(priorityToken(-3), "m3");
  assert.throws(
    () => priorityToken(1.5),
    (e: unknown) => e instanceof ProtocolError,
  );
});

test("topology names derive from the two prefixes and reject unsafe ones", () => {
  const t = createTopology();
  assert.equal(t.streams, {
    jobs: "JETFLOW_JOBS",
    jobsDelayed: "JETFLOW_JOBS_DELAYED",
    jobsDead: "JETFLOW_JOBS_DEAD",
    tasks: "JETFLOW_TASKS",
    reports: "JETFLOW_REPORTS",
    events: "JETFLOW_EVENTS",
  });
  assert.is(t.jobSubject(0), "jetflow.jobs.default");
  assert.is(t.taskSubject("gpu.eu", "v1.2"), "jetflow.tasks.gpu~2Eeu.v1~2E2");
  assert.is(t.reportSubject("gpu"), "jetflow.reports.gpu");
  assert.is(t.eventSubject("wf", "run.1", "stage:failed"), "jetflow.events.wf.run~2E1.stage_failed");
  assert.is(t.runEventsFilter("run.1"), "jetflow.events.*.run~2E1.*");
  assert.is(t.apiSubject("runs.create"), "jetflow.api.runs.create");
  const custom = createTopology({ prefix: "acme.jf", streamPrefix: "ACME" });
  assert.is(custom.streams.jobs, "ACME_JOBS");
  assert.is(custom.filters.jobs, "acme.jf.jobs.>");
  assert.throws(
    () => createTopology({ prefix: "bad.*" }),
    (e: unknown) => e instanceof ProtocolError,
  );
  assert.throws(
    () => createTopology({ streamPrefix: "A.B" }),
    (e: unknown) => e instanceof ProtocolError,
  );
});

test("job bodies round-trip with dates, and a bad body names the failing field", () => {
  const availableAt = new Date("2026-01-02T03:04:05.678Z");
  const job = {
    jobId: "r:s:1",
    workflowRunId: "r",
    workflowId: "w",
    stageId: "s",
    attempt: 1,
    maxAttempts: 3,
    priority: 0,
    availableAt,
    payload: { a: 1 },
  };
  const wire = toJobMessage(job);
  assert.is(wire.availableAt, "2026-01-02T03:04:05.678Z");
  const back = parseJob(JSON.stringify(wire));
  assert.ok(back.ok);
  if (back.ok) assert.equal(back.value, job);
  const bad = parseJob(JSON.stringify({ ...wire, attempt: 0, availableAt: "soon" }));
  assert.not.ok(bad.ok);
  if (!bad.ok) {
    assert.equal(bad.error.issues.map((i) => i.path).sort(), ["attempt", "availableAt"]);
    assert.match(bad.error.message, /attempt/);
  }
  const notJson = parseJob(new TextEncoder().encode("{nope"));
  assert.not.ok(notJson.ok);
});

test("event bodies: unknown types and missing fields are refused by name", () => {
  const ok = parseEvent({
    v: 1,
    id: "e1",
    type: "stage:completed",
    workflowRunId: "r",
    workflowId: "w",
    timestamp: "2026-01-01T00:00:00Z",
    data: {},
  });
  assert.ok(ok.ok);
  const bad = parseEvent({ v: 1, id: "e1", type: "stage:exploded", workflowRunId: "r", timestamp: "2026-01-01T00:00:00Z", data: {} });
  assert.not.ok(bad.ok);
  if (!bad.ok) assert.equal(bad.error.issues.map((i) => i.path).sort(), ["type", "workflowId"]);
});

test.run();

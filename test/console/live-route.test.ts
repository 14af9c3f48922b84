// The console's live feed over Server-Sent Events: a browser on a run page gets that run's
// events (and no other run's), in order, and stop ends the stream.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createConsoleApp } from "../../console/server.js";
import type { LiveEvents, RunEventNotice } from "../../console/live-events.js";
import type { ConsoleDeps } from "../../console/deps.js";

function fakeLive(): LiveEvents & { emit(n: RunEventNotice): void; listeners: number } {
  const listeners = new Set<(n: RunEventNotice) => void>();
  return {
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    stop: async () => listeners.clear(),
    emit: (n) => listeners.forEach((l) => l(n)),
    get listeners() {
      return listeners.size;
    },
  };
}

/** `p`, or "late" after 10 s (the timer does not hold the process open). */
function within<T>(p: Promise<T>): Promise<T | "late"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((r) => (timer = setTimeout(r, 10_000, "late")));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const deps = { actor: { kind: "user", id: "alice" }, pollMs: 30_000 } as unknown as ConsoleDeps;

/** Reads the stream until `done(text so far)` holds; bounded. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, done: (text: string) => boolean, sofar = ""): Promise<string> {
  const decoder = new TextDecoder();
  const deadline = Date.now() + 10_000;
  let text = sofar;
  while (!done(text)) {
    if (Date.now() > deadline) throw new Error(`stream did not deliver in time; got:\n${text}`);
    const chunk = await within(reader.read());
    if (chunk === "late") throw new Error(`stream stalled; got:\n${text}`);
    if (chunk.done) throw new Error(`stream ended; got:\n${text}`);
    text += decoder.decode(chunk.value, { stream: true });
  }
  return text;
}

test("a run page's stream carries that run's events in order, nothing of other runs, and ends on stop", async () => {
  const live = fakeLive();
  const { app, closeStreams } = createConsoleApp(deps, { loopbackOnly: true }, live);
  const res = await app.request("/events?run=r1", { headers: { host: "127.0.0.1:4280" } });
  assert.is(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const reader = res.body!.getReader();
  let text = await readUntil(reader, (t) => t.includes(": connected"));
  assert.is(live.listeners, 1);
  live.emit({ runId: "r2", workflowId: "w", type: "workflow:started" });
  live.emit({ runId: "r1", workflowId: "w", type: "stage:completed", stageId: "a" });
  live.emit({ runId: "r1", workflowId: "w", type: "workflow:completed" });
  text = await readUntil(reader, (t) => t.includes("workflow:completed"), text);
  const events = text
    .split("\n\n")
    .filter((block) => block.startsWith("event: run"))
    .map((block) => JSON.parse(block.split("\n")[1]!.slice("data: ".length)) as RunEventNotice);
  assert.equal(events, [
    { runId: "r1", workflowId: "w", type: "stage:completed", stageId: "a" },
    { runId: "r1", workflowId: "w", type: "workflow:completed" },
  ]);
  closeStreams();
  assert.is(live.listeners, 0, "the stream unsubscribed");
  const end = await within(reader.read());
  assert.ok(end !== "late" && end.done, "the stream ended");
});

test("the runs list's stream carries every run's events", async () => {
  const live = fakeLive();
  const { app, closeStreams } = createConsoleApp(deps, { loopbackOnly: true }, live);
  const res = await app.request("/events", { headers: { host: "localhost" } });
  const reader = res.body!.getReader();
  let text = await readUntil(reader, (t) => t.includes(": connected"));
  live.emit({ runId: "r7", workflowId: "w", type: "workflow:created" });
  live.emit({ runId: "r8", workflowId: "w", type: "workflow:created" });
  text = await readUntil(reader, (t) => t.includes('"r8"'), text);
  assert.match(text, /"runId":"r7"/);
  closeStreams();
});

test.run();

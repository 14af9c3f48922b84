// The console's live feed over Server-Sent Events: a browser on a run page gets that run's
// events (and no other run's), in order, and stop ends the stream.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createConsoleApp, startConsole } from "../../console/server.js";
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

/** What @hono/node-server passes a handler: the Node request, whose socket names the client. */
const from = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });

test("live streams are bounded per client and in total; a refused one gets 429 with the reason and takes no listener", async () => {
  const live = fakeLive();
  const { app, closeStreams } = createConsoleApp(deps, { loopbackOnly: true }, live, { perClient: 2, total: 3 });
  const open = (address: string) => app.request("/events", { headers: { host: "127.0.0.1" } }, from(address));
  try {
    const a1 = await open("10.0.0.1");
    const a2 = await open("10.0.0.1");
    assert.is(a1.status, 200);
    assert.is(a2.status, 200);
    const a3 = await open("10.0.0.1");
    assert.is(a3.status, 429, "a third stream from the same client");
    assert.match(await a3.text(), /too many live streams from this client \(2 open, limit 2\)/);
    assert.ok(a3.headers.get("retry-after"));
    const b1 = await open("10.0.0.2");
    assert.is(b1.status, 200, "another client still gets its stream");
    const b2 = await open("10.0.0.2");
    assert.is(b2.status, 429, "the console's total is reached");
    assert.match(await b2.text(), /too many live streams on this console \(3 open, limit 3\)/);
    const readers = [a1, a2, b1].map((res) => res.body!.getReader());
    for (const reader of readers) await readUntil(reader, (t) => t.includes(": connected"));
    assert.is(live.listeners, 3, "refused streams never subscribed to the feed");

    // A stream that ends gives its slot back.
    await readers[0]!.cancel();
    let again: Response | undefined;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      again = await open("10.0.0.1");
      if (again.status === 200) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.is(again?.status, 200, "the client's slot was released when its stream ended");
  } finally {
    closeStreams();
  }
  assert.is(live.listeners, 0);
});

test("over a real socket the per-client bound counts the peer address", async () => {
  // No NATS behind it: the pages are not used, and the live feed's consumer fails and retries silently.
  const nc = { request: () => Promise.reject(new Error("no NATS in this test")) } as unknown as Parameters<typeof startConsole>[0];
  const server = await startConsole(nc, { port: 0, maxLiveStreamsPerClient: 2, maxLiveStreams: 10 });
  const aborts: AbortController[] = [];
  const open = async () => {
    const abort = new AbortController();
    aborts.push(abort);
    return fetch(`${server.url}/events`, { signal: abort.signal });
  };
  try {
    const first = await open();
    const second = await open();
    assert.is(first.status, 200);
    assert.is(second.status, 200);
    const third = await open();
    assert.is(third.status, 429);
    assert.match(await third.text(), /too many live streams from this client/);
  } finally {
    for (const a of aborts) a.abort();
    await server.stop();
  }
});

test.run();

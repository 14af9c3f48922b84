// The guarded reply path shared by every responder: it never rejects nor throws, whatever the
// handler, the reply encoding or the message's respond methods do, and an error header carries
// only printable ASCII (what nats.js's header check enforces).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { headerSafe, serveRequest, type ServiceRequestMessage } from "../../src/contract/guarded-reply.js";
import { isInfrastructureError, toPublicError } from "../../src/contract/public-error.js";
import { JetflowError } from "../../src/contract/errors.js";

interface Sent {
  kind: "respond" | "error";
  data: string;
  status?: number;
  description?: string;
}

/** A service message that, like nats.js, throws on a header value holding CR or LF. */
function fakeMsg(o: { respondThrows?: boolean; reply?: string } = {}): ServiceRequestMessage & { sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    subject: "x.api.test",
    reply: o.reply ?? "_INBOX.1",
    sent,
    respond(data) {
      if (o.respondThrows) throw new Error("connection closed");
      sent.push({ kind: "respond", data: String(data) });
      return true;
    },
    respondError(status, description, data) {
      if (/[\r\n]/.test(description)) throw new Error("invalid header value - \\r and \\n are not allowed");
      sent.push({ kind: "error", status, description, data: String(data) });
      return true;
    },
  };
}

const logs: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
const logger = {
  warn: (obj: Record<string, unknown>, msg?: string) => void logs.push({ level: "warn", obj, msg }),
  error: (obj: Record<string, unknown>, msg?: string) => void logs.push({ level: "error", obj, msg }),
};

test("headerSafe keeps printable ASCII only, collapsed and bounded", () => {
  assert.is(headerSafe("a\r\nb\u0000c\td é"), "a b c d");
  assert.is(headerSafe("x".repeat(1000)).length, 256);
});

test("an error whose message holds CR/LF is answered: sanitised header, full message in the body", async () => {
  const m = fakeMsg();
  await serveRequest(
    m,
    () => {
      throw new JetflowError("INVALID_STATE", "bad\r\nInjected: 1");
    },
    { logger },
  );
  assert.is(m.sent.length, 1);
  assert.is(m.sent[0]!.kind, "error");
  assert.is(m.sent[0]!.status, 409);
  assert.is(m.sent[0]!.description, "INVALID_STATE: bad Injected: 1");
  assert.is(JSON.parse(m.sent[0]!.data).error.message, "bad\r\nInjected: 1");
});

test("a reply that cannot be encoded, and a respond that throws, are logged, never thrown or rejected", async () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const m = fakeMsg();
  await serveRequest(m, () => cyclic, { logger });
  assert.is(m.sent[0]!.status, 500);
  logs.length = 0;
  const dead = fakeMsg({ respondThrows: true });
  await serveRequest(dead, () => ({ ok: true }), { logger });
  await serveRequest(
    dead,
    () => {
      throw new Error("x");
    },
    { logger, onError: () => void (null as unknown as { boom(): void }).boom() },
  );
  assert.ok(logs.some((l) => l.msg === "reply could not be sent"));
  assert.ok(logs.some((l) => l.msg === "request error hook threw"));
});

test("infrastructure errors become UNAVAILABLE without connection details; others INTERNAL with a logged correlation id", () => {
  const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.7:5432"), { code: "ECONNREFUSED" });
  assert.ok(isInfrastructureError(refused));
  assert.ok(isInfrastructureError({ code: "57P01", severity: "FATAL" }));
  assert.ok(isInfrastructureError(new Error("wrapped", { cause: { code: "CONNECTION_ENDED" } })));
  logs.length = 0;
  const u = toPublicError(refused, logger);
  assert.is(u.code, "UNAVAILABLE");
  assert.is(u.status, 503);
  assert.not.match(u.message, /10\.0\.0\.7|5432|ECONNREFUSED/);
  assert.is(logs[0]!.obj.correlationId, u.correlationId);
  assert.match(String(logs[0]!.obj.err), /10\.0\.0\.7:5432/);

  const data = toPublicError({ code: "22021", severity: "ERROR", message: 'invalid byte sequence for encoding "UTF8": 0x00' }, logger);
  assert.is(data.status, 400);
  assert.not.match(data.message, /UTF8|0x00/);

  const i = toPublicError(new TypeError("secret at /srv"), logger);
  assert.is(i.code, "INTERNAL");
  assert.not.match(i.message, /secret/);
  assert.ok(i.correlationId && i.message.includes(i.correlationId));
});

test.run();

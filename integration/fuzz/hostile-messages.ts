// Hostile message bodies for the fuzz suite, as fast-check arbitraries: raw garbage, random JSON,
// and — the ones that reach deep code — valid-looking requests with one field replaced by a
// hostile value (control characters, NUL, lone surrogates, numbers past the column types, huge or
// deeply nested values, unknown fields). Every body is bytes, as a client would send it.
import fc from "fast-check";

const enc = new TextEncoder();

/** Values that have broken, or could break, a parser, a header, a Postgres column or a zod schema. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    "a\nb",
    "x\r\ny",
    "\r\n\r\n",
    "\u0000",
    "nul\u0000inside",
    "\ud800",
    "lone\udfffsurrogate",
    "\u202eRTL",
    "\ufeffBOM",
    "😀".repeat(50),
    "",
    " ",
    "../../etc/passwd",
    "runs/../../other",
    "*",
    ">",
    "a.b.c",
    "$SYS.x",
    "_INBOX.x",
    2 ** 31,
    -(2 ** 31) - 1,
    2 ** 53,
    -(2 ** 53),
    1e308,
    -1e308,
    5e-324,
    -0,
    0,
    -1,
    0.5,
    "NaN",
    "Infinity",
    null,
    true,
    false,
    [],
    {},
    { __proto__: { polluted: true } },
    { constructor: { prototype: { polluted: true } } },
    "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999Z",
    "not-a-date",
  ),
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), maxLength: 16 }),
  fc.integer(),
  fc.double(),
  fc.string({ minLength: 10_000, maxLength: 20_000 }),
  fc.array(fc.integer(), { minLength: 1_000, maxLength: 5_000 }),
  fc.integer({ min: 50, max: 3_000 }).map(nested),
);

/** `depth` nested objects: recursion limits in JSON.parse, zod and jsonb. */
function nested(depth: number): unknown {
  let v: unknown = "bottom";
  for (let i = 0; i < depth; i++) v = { n: v };
  return v;
}

/** A valid-looking body with one field (existing or new) replaced by a hostile value, and maybe an extra field. */
export function mutated(template: Record<string, unknown>): fc.Arbitrary<unknown> {
  const keys = Object.keys(template);
  return fc
    .record({
      key: keys.length ? fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 12 })) : fc.string({ maxLength: 12 }),
      value: hostileValue,
      extra: fc.option(fc.tuple(fc.string({ maxLength: 12 }), hostileValue), { nil: undefined }),
      drop: fc.option(keys.length ? fc.constantFrom(...keys) : fc.constant(""), { nil: undefined }),
    })
    .map(({ key, value, extra, drop }) => {
      const body: Record<string, unknown> = { ...template, [key]: value };
      if (extra) body[extra[0]] = extra[1];
      if (drop !== undefined && drop !== key) delete body[drop];
      return body;
    });
}

/** Bytes that are not JSON, or are JSON of the wrong shape. */
export const garbage: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc
    .constantFrom("", "oops\n", "{", "}", "[]", "null", "1", '"str"', '{"a":1}\n{', "\u0000", '{"x":"\r\n"}', "\ufeff{}")
    .map((s) => enc.encode(s)),
  fc.uint8Array({ maxLength: 256 }),
  fc.string({ unit: "binary", maxLength: 256 }).map((s) => enc.encode(s)),
  fc.json({ maxDepth: 4 }).map((s) => enc.encode(s)),
  fc.integer({ min: 5_000, max: 50_000 }).map((n) => enc.encode("[".repeat(n) + "]".repeat(n))),
);

/** A body for a target whose valid shape is `template`: garbage or a mutated request, serialized. */
export function hostileBody(template: Record<string, unknown>): fc.Arbitrary<Uint8Array> {
  return fc.oneof({ weight: 1, arbitrary: garbage }, { weight: 3, arbitrary: mutated(template).map((v) => enc.encode(safeStringify(v))) });
}

/** JSON.stringify that survives what it is given (lone surrogates serialize as escapes by design). */
function safeStringify(v: unknown): string {
  try {
    return JSON.stringify(v) ?? "null";
  } catch {
    return "{}"; // only a cycle or a stack overflow gets here; the body is still a message
  }
}

/** Header values a client may send: garbage trace context, huge ids, control characters. */
export const hostileHeaders: fc.Arbitrary<Record<string, string>> = fc.dictionary(
  fc.constantFrom("traceparent", "tracestate", "Nats-Msg-Id", "baggage", "x-jetflow"),
  fc.oneof(
    fc.constantFrom("00-zz-yy-01", "00-00000000000000000000000000000000-0000000000000000-00", "ÿ".repeat(300), "a".repeat(4000)),
    fc.string({ unit: "grapheme-ascii", maxLength: 64 }),
  ),
  { maxKeys: 2 },
);

/** A short, human-readable description of a body for failure messages. */
export function describe(body: Uint8Array): string {
  const text = new TextDecoder().decode(body.subarray(0, 120));
  return `${JSON.stringify(text)}${body.byteLength > 120 ? `… (${body.byteLength} bytes)` : ""}`;
}

/**
 * A minimal OTLP/HTTP receiver for tests: accepts `POST /v1/traces` and `POST /v1/metrics` in the
 * OTLP JSON encoding (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) and keeps what it decoded, so a test
 * can assert on the spans and metric points jetflow processes exported.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
type KeyValue = { key: string; value: AnyValue };

/** One exported span, flattened. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  attributes: Record<string, unknown>;
}

/** The latest exported value of one metric stream (cumulative temporality: the last export is the total). */
export interface ReceivedPoint {
  service: string;
  /** `service.instance.id`: two workers of one service keep separate streams. */
  instance: string;
  name: string;
  unit: string;
  attributes: Record<string, unknown>;
  /** Sum or gauge value, or the histogram's count. */
  value: number;
  /** Histogram sum (seconds for durations); undefined for sums. */
  sum?: number;
}

function value(v: AnyValue | undefined): unknown {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return undefined;
}

function attrs(list: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, value(kv.value)]));
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  private readonly points = new Map<string, ReceivedPoint>();
  private server: Server | null = null;
  /** Request bodies it could not decode (a test fails on them). */
  readonly errors: string[] = [];

  /** Listens on 127.0.0.1 on a free port; resolves with the base URL for OTEL_EXPORTER_OTLP_ENDPOINT. */
  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Latest points of `name` (one per service instance and attribute set). */
  metric(name: string): ReceivedPoint[] {
    return [...this.points.values()].filter((p) => p.name === name);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    try {
      if (req.method !== "POST") throw new Error(`unexpected ${req.method} ${req.url}`);
      if (!String(req.headers["content-type"] ?? "").includes("json"))
        throw new Error(`not OTLP JSON: content-type ${req.headers["content-type"]}`);
      const body = JSON.parse(text);
      if (req.url === "/v1/traces") this.traces(body);
      else if (req.url === "/v1/metrics") this.metrics(body);
      else if (req.url !== "/v1/logs") throw new Error(`unexpected path ${req.url}`);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    } catch (e) {
      this.errors.push(`${req.url}: ${(e as Error).message}`);
      res.writeHead(400).end();
    }
  }

  private traces(body: {
    resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[];
  }): void {
    for (const rs of body.resourceSpans ?? []) {
      const service = String(attrs(rs.resource?.attributes)["service.name"] ?? "");
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          this.spans.push({
            service,
            traceId: String(s.traceId),
            spanId: String(s.spanId),
            parentSpanId: String(s.parentSpanId ?? ""),
            name: String(s.name),
            kind: Number(s.kind ?? 0),
            statusCode: Number((s.status as { code?: number } | undefined)?.code ?? 0),
            attributes: attrs(s.attributes as KeyValue[]),
          });
        }
      }
    }
  }

  private metrics(body: {
    resourceMetrics?: { resource?: { attributes?: KeyValue[] }; scopeMetrics?: { metrics?: Record<string, unknown>[] }[] }[];
  }): void {
    type Dp = { attributes?: KeyValue[]; asInt?: string | number; asDouble?: number; count?: string | number; sum?: number };
    for (const rm of body.resourceMetrics ?? []) {
      const resource = attrs(rm.resource?.attributes);
      const service = String(resource["service.name"] ?? "");
      const instance = String(resource["service.instance.id"] ?? "");
      for (const sm of rm.scopeMetrics ?? []) {
        for (const m of sm.metrics ?? []) {
          const name = String(m.name);
          const unit = String(m.unit ?? "");
          const sum = m.sum as { dataPoints?: Dp[] } | undefined;
          const hist = m.histogram as { dataPoints?: Dp[] } | undefined;
          const gauge = m.gauge as { dataPoints?: Dp[] } | undefined;
          for (const dp of [...(sum?.dataPoints ?? []), ...(gauge?.dataPoints ?? [])])
            this.put({ service, instance, name, unit, attributes: attrs(dp.attributes), value: Number(dp.asInt ?? dp.asDouble ?? 0) });
          for (const dp of hist?.dataPoints ?? [])
            this.put({
              service,
              instance,
              name,
              unit,
              attributes: attrs(dp.attributes),
              value: Number(dp.count ?? 0),
              sum: Number(dp.sum ?? 0),
            });
        }
      }
    }
  }

  private put(p: ReceivedPoint): void {
    const key = JSON.stringify([p.service, p.instance, p.name, Object.entries(p.attributes).sort()]);
    this.points.set(key, p);
  }
}

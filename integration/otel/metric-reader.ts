/**
 * An in-memory OpenTelemetry metric reader installed as the global MeterProvider, so a test reads
 * back what jetflow's `@opentelemetry/api` instruments recorded (cumulative, on demand).
 */
import { metrics } from "@opentelemetry/api";
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from "@opentelemetry/sdk-metrics";

class OnDemandReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** One data point of a collection: its attributes and value (a number, or a histogram's count/sum). */
export interface Point {
  attributes: Record<string, unknown>;
  value: number | Histogram;
}

/** A global meter provider whose metrics `collect()` returns by name. */
export interface TestMetrics {
  collect(): Promise<Map<string, Point[]>>;
  /** The number value of `name`'s point whose attributes include `attrs`; undefined when absent. */
  value(name: string, attrs: Record<string, unknown>): Promise<number | undefined>;
  /** The histogram point of `name` whose attributes include `attrs`. */
  histogram(name: string, attrs: Record<string, unknown>): Promise<Histogram | undefined>;
  shutdown(): Promise<void>;
}

const matches = (p: Point, attrs: Record<string, unknown>) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v);

/** Installs the provider globally (jetflow's instruments re-bind to it at their next use). */
export function installTestMetrics(): TestMetrics {
  const reader = new OnDemandReader();
  const provider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(provider);
  const collect = async () => {
    const { resourceMetrics, errors } = await reader.collect();
    if (errors.length > 0) throw new Error(`metric collection failed: ${errors.map(String).join("; ")}`);
    const byName = new Map<string, Point[]>();
    for (const scope of resourceMetrics.scopeMetrics)
      for (const m of scope.metrics)
        byName.set(
          m.descriptor.name,
          (m.dataPoints as DataPoint<number | Histogram>[]).map((d) => ({ attributes: { ...d.attributes }, value: d.value })),
        );
    return byName;
  };
  const point = async (name: string, attrs: Record<string, unknown>) => (await collect()).get(name)?.find((p) => matches(p, attrs));
  return {
    collect,
    async value(name, attrs) {
      const v = (await point(name, attrs))?.value;
      return typeof v === "number" ? v : undefined;
    },
    async histogram(name, attrs) {
      const v = (await point(name, attrs))?.value;
      return v !== undefined && typeof v !== "number" ? v : undefined;
    },
    async shutdown() {
      await provider.shutdown();
      metrics.disable();
    },
  };
}

import { WORKFLOW_EVENT_TYPES, type EventSink, type WorkflowEvent, type WorkflowEventType } from "../ports/event-sink.js";
import { JetflowError, ValidationError } from "../contract/errors.js";
import type { KernelPlugin } from "./plugins.js";

const EVENT_TYPES: ReadonlySet<WorkflowEventType> = new Set(WORKFLOW_EVENT_TYPES);

/**
 * Declares a kernel plugin. Returns it unchanged after checking its shape, so a typo in an
 * event type fails at startup instead of silently never firing.
 */
export function definePlugin(plugin: KernelPlugin): KernelPlugin {
  const issues: { path: string; message: string }[] = [];
  if (typeof plugin?.id !== "string" || plugin.id.trim() === "") issues.push({ path: "id", message: "must be a non-empty string" });
  if (typeof plugin?.name !== "string" || plugin.name.trim() === "") issues.push({ path: "name", message: "must be a non-empty string" });
  if (typeof plugin?.handle !== "function") issues.push({ path: "handle", message: "must be a function" });
  if (plugin?.on !== "*") {
    if (!Array.isArray(plugin?.on) || plugin.on.length === 0) {
      issues.push({ path: "on", message: 'must be "*" or a non-empty list of event types' });
    } else {
      plugin.on.forEach((t, i) => {
        if (!EVENT_TYPES.has(t)) issues.push({ path: `on.${i}`, message: `unknown event type "${String(t)}"` });
      });
    }
  }
  if (issues.length > 0) throw new ValidationError(`invalid plugin "${String(plugin?.id)}"`, issues);
  return plugin;
}

/** A plugin runner is an EventSink that forwards to an optional sink, then to every matching plugin. */
export interface PluginRunner extends EventSink {
  readonly plugins: readonly KernelPlugin[];
}

/**
 * Wraps plugins (and optionally the real sink) as one EventSink. Every matching plugin sees
 * the event even when another throws; any failure is then rethrown so the outbox retries the
 * whole delivery (plugins must therefore be idempotent on `event.id`).
 */
export function createPluginRunner(opts: { plugins: readonly KernelPlugin[]; sink?: EventSink }): PluginRunner {
  const plugins = opts.plugins.map(definePlugin);
  const ids = new Set<string>();
  for (const p of plugins) {
    if (ids.has(p.id)) throw new ValidationError("invalid plugins", [{ path: p.id, message: "duplicate plugin id" }]);
    ids.add(p.id);
  }
  return {
    plugins,
    async publish(event: WorkflowEvent): Promise<void> {
      if (opts.sink) await opts.sink.publish(event);
      const failures: string[] = [];
      for (const p of plugins) {
        if (p.on !== "*" && !p.on.includes(event.type)) continue;
        try {
          await p.handle(event);
        } catch (err) {
          failures.push(`plugin "${p.id}": ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      if (failures.length > 0) {
        throw new JetflowError("INTERNAL", `event ${event.type} (${event.id}) delivery failed: ${failures.join("; ")}`);
      }
    },
  };
}

import type { EventSink, WorkflowEvent } from "../src/ports/event-sink.js";

/**
 * An EventSink that prints run progress as events arrive (stage start/finish with durations,
 * suspensions, resumes) and forwards every event to `next`.
 */
export function createProgressPrinter(next: EventSink, write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): EventSink {
  const t0 = Date.now();
  const startedAt = new Map<string, number>();
  const stamp = () => `+${String(Date.now() - t0).padStart(5)} ms`;
  return {
    async publish(event: WorkflowEvent) {
      const key = `${event.workflowRunId}/${event.stageId ?? ""}`;
      const stage = event.stageId ?? "";
      switch (event.type) {
        case "workflow:created":
          write(`${stamp()}  run ${event.workflowRunId} created (${event.workflowId})`);
          break;
        case "workflow:started":
          write(`${stamp()}  run started`);
          break;
        case "stage:started":
          startedAt.set(key, Date.now());
          write(`${stamp()}  ▶ ${stage} started`);
          break;
        case "stage:suspended":
          write(`${stamp()}  ⏸ ${stage} suspended (next check ${String(event.data.nextPollAt ?? "soon")})`);
          break;
        case "stage:resumed":
          write(`${stamp()}  ⏵ ${stage} resumed: external work finished`);
          break;
        case "stage:completed": {
          const began = startedAt.get(key);
          write(`${stamp()}  ✔ ${stage} completed${began !== undefined ? ` in ${Date.now() - began} ms` : ""}`);
          break;
        }
        case "stage:retrying":
        case "stage:failed":
          write(`${stamp()}  ✖ ${stage} ${event.type.slice(6)}: ${String(event.data.error ?? "")}`);
          break;
        case "workflow:completed":
          write(`${stamp()}  ■ run completed`);
          break;
        case "workflow:failed":
          write(`${stamp()}  ■ run FAILED: ${String(event.data.error ?? "")}`);
          break;
        default:
          write(`${stamp()}  ${event.type}${stage ? ` ${stage}` : ""}`);
      }
      await next.publish(event);
    },
  };
}

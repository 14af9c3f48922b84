/** Documents the demo's fetch stage can "download" (no network needed to run the demo). */
export const DEMO_CORPUS: Readonly<Record<string, { title: string; text: string }>> = Object.freeze({
  "durable-execution": {
    title: "Why durable execution",
    text:
      "A workflow engine remembers where a process stands. " +
      "When a machine dies in the middle of a long job, another machine picks the work up from the last completed stage. " +
      "Stages are small, typed and retried on their own. " +
      "Slow external work, such as a batch translation, suspends the stage instead of holding a worker. " +
      "The engine polls the external system and resumes the stage when the result is ready. " +
      "Every event goes through an outbox, so nothing is published for a change that was never committed.",
  },
  "work-queues": {
    title: "Work queues in one paragraph",
    text:
      "A work queue hands each message to exactly one consumer. " +
      "The consumer acknowledges the message when the work is done. " +
      "If the consumer disappears, the message is delivered again after its lease expires.",
  },
});

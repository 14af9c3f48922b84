/**
 * Subjects and consumer names of remote activities on JetStream, beyond those in
 * src/contract/topology.ts. Chosen so a worker user can be permitted per queue:
 *
 * | name                                   | what                                                   |
 * | -------------------------------------- | ------------------------------------------------------ |
 * | `<p>.broker.<queue>.heartbeat`         | heartbeat request/reply (start + beats) of `<queue>`   |
 * | `<p>.broker.<queue>.presign`           | presign request/reply of `<queue>`                     |
 * | `<p>.cancel.<queue>`                   | best-effort cancel notices of `<queue>` (core NATS)    |
 * | consumer `tasks-<queue>~~<codeVersion>` | durable pull consumer on `<S>_TASKS` per (queue, version), unlabelled tasks |
 * | consumer `tasks-<queue>~~<codeVersion>~~<labelKey>` | one per required label set (src/contract/label-routing.ts) |
 * | consumer `reports-<queue>`              | durable pull consumer on `<S>_REPORTS` per queue        |
 *
 * `<queue>` and `<codeVersion>` are {@link encodeToken}-encoded. An encoded token never holds
 * `~~` (every `~` is followed by two hex digits), so `~~` separates queue and version
 * unambiguously: distinct (queue, version) pairs always get distinct consumers.
 * The worker SDK mirrors these rules (it may not import adapters); integration/remote checks they agree.
 */
import { decodeToken, encodeToken } from "../../../src/contract/tokens.js";
import type { Topology } from "../../../src/contract/topology.js";

/** Broker request/reply operations a worker may call. */
export type BrokerOp = "heartbeat" | "presign";

/** `<p>.broker.<queue>.<op>`: where a worker of `queue` sends `op` requests. */
export function brokerSubject(topology: Topology, queue: string, op: BrokerOp): string {
  return `${topology.prefix}.broker.${encodeToken(queue, "queue")}.${op}`;
}

/** The queue a `<p>.broker.<queue>.<op>` subject names. @throws ProtocolError for a malformed token. */
export function queueOfBrokerSubject(subject: string): string {
  const tokens = subject.split(".");
  return decodeToken(tokens[tokens.length - 2] ?? "", "queue");
}

/** `<p>.broker.*.<op>`: every queue's `op` requests (what an orchestrator serving all queues listens on). */
export function brokerFilter(topology: Topology, op: BrokerOp): string {
  return `${topology.prefix}.broker.*.${op}`;
}

/** `<p>.cancel.<queue>`: best-effort cancel notices of `queue` (workers of that queue may subscribe). */
export function cancelNoticeSubject(topology: Topology, queue: string): string {
  return `${topology.prefix}.cancel.${encodeToken(queue, "queue")}`;
}

/** Durable name of the task consumer of (queue, codeVersion[, required labels]) on `<S>_TASKS` (src/contract/label-routing.ts). */
export { taskConsumerName } from "../../../src/contract/label-routing.js";

/** Durable name of the report consumer of `queue` on `<S>_REPORTS`. */
export function reportConsumerName(queue: string): string {
  return `reports-${encodeToken(queue, "queue")}`;
}

/**
 * jetflow on NATS JetStream (`jetflow/jetstream`): the kernel's JobTransport and EventSink, the
 * topology bootstrap, and the submission API service and client.
 */
export { createJetStreamJobTransport, type JetStreamJobTransport, type JetStreamJobTransportOptions } from "./job-transport.js";
export { createJetStreamEventSink, watchRunEvents, type JetStreamEventSinkOptions, type RunEventWatch, type WatchRunEventsOptions } from "./event-sink.js";
export { ensureTopology, desiredTopology, compareVersions, MIN_SERVER_VERSION, type EnsureTopologyOptions, type TopologyReport } from "./topology.js";
export { createTopology, type Topology, type TopologyOptions } from "../../src/contract/topology.js";
export { startApiService, type ApiService, type ApiServiceOptions } from "./api/service.js";
export * from "./api/client.js";
export * from "./remote/index.js";
export { initNatsAuth, issueWorkerCreds, NatsAuthError, type NatsAuthInit, type IssuedWorkerCreds } from "./auth/nats-auth.js";
export { workerPermissions, workerInboxPrefix, type WorkerPermissions } from "./auth/worker-permissions.js";

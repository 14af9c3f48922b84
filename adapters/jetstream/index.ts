/**
 * jetflow on NATS JetStream (`jetflow/jetstream`): the kernel's JobTransport and EventSink, the
 * topology bootstrap, the submission API service and client, remote-activity dispatch on the
 * orchestrator side, and worker credentials.
 */

// Port implementations: job transport and event sink
export { createJetStreamJobTransport } from "./job-transport.js";
export { createJetStreamEventSink, watchRunEvents } from "./event-sink.js";

// Topology: subjects, streams and consumers
export { createTopology } from "../../src/contract/topology.js";
export { ensureTopology, desiredTopology, compareVersions, MIN_SERVER_VERSION } from "./topology.js";

// Submission API: service, client, following a run
export { startApiService } from "./api/service.js";
export { createJetflowClient, ApiError } from "./api/client.js";
export { watchRun } from "./api/watch-run.js";

// Remote activities, orchestrator side
export { createJetStreamTaskDispatcher } from "./remote/dispatcher.js";
export { ensureTaskConsumer, ensureTaskConsumers, ensureReportConsumer } from "./remote/consumers.js";
export { startBrokerResponders } from "./remote/responders.js";
export { startReportConsumer } from "./remote/report-consumer.js";
export { brokerSubject, brokerFilter, cancelNoticeSubject, taskConsumerName, reportConsumerName } from "./remote/names.js";

// Worker credentials and permissions
export { initNatsAuth, issueWorkerCreds, NatsAuthError } from "./auth/nats-auth.js";
export { workerPermissions, workerInboxPrefix, workerImports, workerStreamImports, controlExport } from "./auth/worker-permissions.js";
export { revokeWorkerCreds, pushAccountJwt } from "./auth/revoke.js";

// Job transport and event sink types
export type { JetStreamJobTransport, JetStreamJobTransportOptions } from "./job-transport.js";
export type { JetStreamEventSinkOptions, RunEventWatch, WatchRunEventsOptions } from "./event-sink.js";

// Topology types
export type { Topology, TopologyOptions } from "../../src/contract/topology.js";
export type { EnsureTopologyOptions, TopologyReport } from "./topology.js";

// Submission API types
export type { ApiService, ApiServiceOptions } from "./api/service.js";
export type { JetflowClient, JetflowClientOptions } from "./api/client.js";
export type { WatchResult, RunEventMessage } from "./api/watch-run.js";

// Remote activity types
export type { JetStreamTaskDispatcherOptions } from "./remote/dispatcher.js";
export type { EnsureTaskConsumerOptions, EnsureReportConsumerOptions, EnsuredConsumer } from "./remote/consumers.js";
export type { BrokerResponders, BrokerRespondersOptions } from "./remote/responders.js";
export type { ReportConsumer, ReportConsumerOptions, ReportDeadLetter } from "./remote/report-consumer.js";
export type { BrokerOp } from "./remote/names.js";

// Credential types
export type { NatsAuthInit, IssuedWorkerCreds } from "./auth/nats-auth.js";
export type { WorkerPermissions, SharedService } from "./auth/worker-permissions.js";
export type { RevokeResult } from "./auth/revoke.js";
export type { IssuedCred } from "./auth/auth-dir.js";

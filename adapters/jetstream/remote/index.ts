/**
 * Remote activities on JetStream, orchestrator side: the task dispatcher, the durable task and
 * report consumers, and the broker's heartbeat/presign responders. Workers use
 * `createNatsWorkerTransport` from the worker SDK.
 */
export { createJetStreamTaskDispatcher, type JetStreamTaskDispatcherOptions, type LabelledConsumerSettings } from "./dispatcher.js";
export {
  ensureTaskConsumer,
  ensureTaskConsumers,
  ensureReportConsumer,
  type EnsureTaskConsumerOptions,
  type EnsureReportConsumerOptions,
  type EnsuredConsumer,
} from "./consumers.js";
export { startBrokerResponders, type BrokerResponders, type BrokerRespondersOptions } from "./responders.js";
export { startReportConsumer, type ReportConsumer, type ReportConsumerOptions, type ReportDeadLetter } from "./report-consumer.js";
export { brokerSubject, brokerFilter, cancelNoticeSubject, taskConsumerName, reportConsumerName, type BrokerOp } from "./names.js";

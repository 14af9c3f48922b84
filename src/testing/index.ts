/**
 * `jetflow/testing`: in-memory adapters for every port (tests, demos, single-process use) and
 * the conformance suites every real adapter must pass.
 */

// In-memory adapters, one per port
export { InMemoryPersistence } from "./in-memory-persistence.js";
export { InMemoryJobQueue } from "./in-memory-job-queue.js";
export { InMemoryBlobStore } from "./in-memory-blob-store.js";
export { InMemoryActivityTaskStore } from "./in-memory-activity-task-store.js";
export { CollectingEventSink } from "./collecting-event-sink.js";
export { NoopScheduler } from "./noop-scheduler.js";
export { createInProcessTransport } from "../remote/in-process-transport.js";

// Test utilities: controllable time, a mutex
export { FakeClock, FAKE_CLOCK_START } from "./fake-clock.js";
export { AsyncMutex } from "./mutex.js";

// Conformance suites every adapter passes
export { persistenceConformance } from "./conformance/persistence.js";
export { jobTransportConformance } from "./conformance/job-transport.js";
export { blobStoreConformance } from "./conformance/blob-store.js";
export { activityTaskStoreConformance } from "./conformance/activity-task-store.js";
export { defineCases, eventually } from "./conformance/case.js";

// In-memory adapter types
export type { InMemoryJobQueueOptions, InMemoryJobQueueStats } from "./in-memory-job-queue.js";
export type { ScheduledCommand } from "./noop-scheduler.js";
export type { InProcessTransport } from "../remote/in-process-transport.js";

// Conformance suite types
export type { ConformanceCase, Disposable } from "./conformance/case.js";
export type { PersistenceUnderTest } from "./conformance/persistence-fixtures.js";
export type { JobTransportCaseOptions, JobTransportUnderTest } from "./conformance/job-transport.js";
export type { BlobStoreUnderTest } from "./conformance/blob-store.js";
export type { ActivityTaskStoreUnderTest } from "./conformance/activity-task-store.js";

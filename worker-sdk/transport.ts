/**
 * The worker-side transport interface (see src/contract/worker-transport.ts for the JetStream
 * mapping). Defined in src/ because the in-process transport there implements it and src/ may not
 * import worker-sdk/; re-exported here as the worker's public API.
 */
export type { LeasedTask, NextOptions, PresignCall, WorkerTransport } from "../src/contract/worker-transport.js";

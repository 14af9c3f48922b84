/**
 * The jetflow wire protocol: subjects, headers and message schemas shared by the orchestrator's
 * adapters and the worker SDK. Depends on zod only. Described for other languages in docs/protocol.md.
 */
export * from "./protocol-error.js";
export * from "./tokens.js";
export * from "./topology.js";
export * from "./headers.js";
export * from "./job-message.js";
export * from "./event-message.js";
export * from "./api-messages.js";

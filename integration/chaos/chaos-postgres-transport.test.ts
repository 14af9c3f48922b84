// test-file-timeout-ms: 600000
// The chaos suite with the kernel's jobs on the Postgres JobTransport (orchestrator
// `jobs.transport: "postgres"`): the same faults and assertions as chaos.test.ts.
process.env.JETFLOW_CHAOS_TRANSPORT = "postgres";
await import("./chaos.test.js");

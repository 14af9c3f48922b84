// Activity module for bench/threads.ts: one zod-typed stage that does nothing, so what is
// measured is the thread's cost around a stage body, not the body.
import { z } from "zod";
import type { AnyStage } from "../../../src/contract/stage-types.js";

export const stages: AnyStage[] = [
  {
    id: "noop",
    name: "noop",
    dependencies: [],
    mode: "sync",
    schemas: { input: z.object({ i: z.number() }), output: z.object({ i: z.number() }), config: z.object({}).default({}) },
    retry: { maxAttempts: 1, backoffMs: 1, maxBackoffMs: 1 },
    execute: async (ctx) => ({ output: ctx.input }),
  },
];

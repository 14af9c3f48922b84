import { randomUUID } from "node:crypto";
import type { NewRun, NewStage, Persistence } from "../../ports/persistence.js";
import type { Disposable } from "./case.js";
import { T0 } from "./case.js";

/** What persistenceConformance's factory returns: a fresh, empty store per call. */
export interface PersistenceUnderTest extends Disposable {
  persistence: Persistence;
}

/** JSON exercising what stores mangle: nesting, nulls, unicode, floats, empty containers. */
export const RICH_JSON = {
  text: 'héllo 🌍 "quoted" \\ back',
  n: 42,
  f: 0.1,
  neg: -7.25,
  yes: true,
  no: false,
  nothing: null,
  list: [1, "two", null, { three: [3] }],
  empty: {},
  emptyList: [],
  nested: { deeper: { deepest: "x" } },
};

export function newRun(overrides: Partial<NewRun> = {}): NewRun {
  return {
    id: randomUUID(),
    workflowId: "wf-conformance",
    input: { a: 1 },
    config: { s1: { k: "v" } },
    priority: 0,
    traceContext: null,
    now: T0,
    ...overrides,
  };
}

export function newStage(workflowRunId: string, stageId: string, overrides: Partial<NewStage> = {}): NewStage {
  return {
    id: randomUUID(),
    workflowRunId,
    stageId,
    stageName: `Stage ${stageId}`,
    groupIndex: 0,
    maxAttempts: 3,
    traceContext: null,
    now: T0,
    ...overrides,
  };
}

export const sortedIds = (rows: { id: string }[]): string[] => rows.map((r) => r.id).sort();

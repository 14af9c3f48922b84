import type { ConformanceCase } from "./case.js";
import type { PersistenceUnderTest } from "./persistence-fixtures.js";
import { persistenceCompoundCases } from "./persistence-compound.js";
import { persistenceAICallCases } from "./persistence-ai-calls.js";
import { persistenceRecordCases } from "./persistence-records.js";
import { persistenceRunCases } from "./persistence-runs.js";
import { persistenceLimitCases } from "./persistence-limits.js";
import { persistenceLimitAdmissionCases } from "./persistence-limits-admission.js";

/**
 * Every behaviour the kernel relies on from a Persistence adapter. `factory` must return a fresh,
 * empty store on each call (a new schema or database for SQL adapters); each case calls it once
 * and always calls `cleanup()`.
 */
export function persistenceConformance(factory: () => Promise<PersistenceUnderTest>): ConformanceCase[] {
  return [
    ...persistenceRunCases(factory),
    ...persistenceCompoundCases(factory),
    ...persistenceRecordCases(factory),
    ...persistenceAICallCases(factory),
    ...persistenceLimitCases(factory),
    ...persistenceLimitAdmissionCases(factory),
  ];
}

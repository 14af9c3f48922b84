import { formatIssues, type ValidationIssue } from "./validation.js";
/** Machine-readable error codes carried by every jetflow error (and by API error replies). */
export type JetflowErrorCode =
  | "VALIDATION"
  | "IDEMPOTENCY_IN_PROGRESS"
  | "WORKFLOW_NOT_FOUND"
  | "RUN_NOT_FOUND"
  | "STAGE_NOT_FOUND"
  | "INVALID_STATE"
  | "STAGE_FAILED"
  | "CONFLICT"
  | "UNAVAILABLE"
  | "INTERNAL";

/** Base class: a stable `code` plus a human message. */
export class JetflowError extends Error {
  readonly code: JetflowErrorCode;
  /**
   * Structured context (field issues, ids). Not named `details`: test runners such as uvu treat
   * `err.details` as a printable string and would lose the failure report.
   */
  readonly data?: unknown;
  constructor(code: JetflowErrorCode, message: string, data?: unknown) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.data = data;
  }
}

export type { ValidationIssue } from "./validation.js";

/** Bad input, config or stage output; `issues` name each failing field. */
export class ValidationError extends JetflowError {
  readonly issues: ValidationIssue[];
  constructor(what: string, issues: ValidationIssue[]) {
    super("VALIDATION", formatIssues(what, issues), issues);
    this.issues = issues;
  }
}

/** Another dispatch with the same idempotency key is still running. */
export class IdempotencyInProgressError extends JetflowError {
  constructor(command: string, key: string) {
    super("IDEMPOTENCY_IN_PROGRESS", `${command} with idempotency key "${key}" is already in progress`);
  }
}

/** The workflow id is not registered. */
export class WorkflowNotFoundError extends JetflowError {
  constructor(workflowId: string) {
    super("WORKFLOW_NOT_FOUND", `workflow "${workflowId}" is not registered`);
  }
}

/** No run with that id. */
export class RunNotFoundError extends JetflowError {
  constructor(runId: string) {
    super("RUN_NOT_FOUND", `run "${runId}" does not exist`);
  }
}

/** No stage with that id in the run. */
export class StageNotFoundError extends JetflowError {
  constructor(workflowId: string, stageId: string) {
    super("STAGE_NOT_FOUND", `stage "${stageId}" is not part of workflow "${workflowId}"`);
  }
}

/** The command does not apply in the run's or stage's current state. */
export class InvalidStateError extends JetflowError {
  constructor(message: string) {
    super("INVALID_STATE", message);
  }
}

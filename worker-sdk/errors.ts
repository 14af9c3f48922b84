/** Typed errors of the worker SDK; `code` is stable, `retryable` tells the worker whether another attempt can help. */
export type WorkerErrorCode =
  | "CANCELLED"
  | "LEASE_LOST"
  | "WORKER_STOPPING"
  | "VALIDATION"
  | "NOT_AVAILABLE_REMOTELY"
  | "ARTIFACT"
  | "ARTIFACT_TOO_LARGE"
  | "ARTIFACT_SIZE_MISMATCH"
  | "CONFIG"
  | "VERSION_MISMATCH"
  | "ACTIVITY_CRASHED"
  | "ACTIVITY_START_TIMEOUT"
  | "BUNDLE_REJECTED";

import { formatIssues, type ValidationIssue } from "../src/contract/validation.js";

export class WorkerError extends Error {
  constructor(
    readonly code: WorkerErrorCode,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The orchestrator cancelled the task or its run (a heartbeat reply said so). */
export class ActivityCancelledError extends WorkerError {
  constructor(taskId: string) {
    super("CANCELLED", `activity task "${taskId}" was cancelled by the orchestrator`, false);
  }
}

/** This attempt no longer holds the task (its lease expired or a later attempt took over). */
export class LeaseLostError extends WorkerError {
  constructor(taskId: string, attempt: number, reason: string) {
    super("LEASE_LOST", `activity task "${taskId}" attempt ${attempt} lost its lease: ${reason}`, false);
  }
}

/** The worker is stopping without draining; the task goes back to the queue. */
export class WorkerStoppingError extends WorkerError {
  constructor() {
    super("WORKER_STOPPING", "the worker is stopping; the task is released for another worker", true);
  }
}

/** Input, config or output failed the stage's schema (retrying cannot help). */
export class TaskValidationError extends WorkerError {
  constructor(what: string, issues: ValidationIssue[]) {
    super("VALIDATION", formatIssues(what, issues), false);
  }
}

/** A context feature that needs orchestrator state the task did not carry. */
export class NotAvailableRemotelyError extends WorkerError {
  constructor(feature: string, hint: string) {
    super("NOT_AVAILABLE_REMOTELY", `${feature} is not available on remote workers: ${hint}`, false);
  }
}

/** An object-store transfer over a presigned URL failed. */
export class ArtifactTransferError extends WorkerError {
  constructor(message: string) {
    super("ARTIFACT", message, true);
  }
}

/**
 * An artifact larger than the task's `maxUploadBytes`: refused before any request is sent (the
 * orchestrator would refuse it too). Not retryable: the same output is as large next time.
 */
export class ArtifactTooLargeError extends WorkerError {
  constructor(
    readonly artifact: string,
    readonly size: number,
    readonly maxUploadBytes: number,
  ) {
    super(
      "ARTIFACT_TOO_LARGE",
      `artifact "${artifact}" is ${size} bytes, over the task's maxUploadBytes limit of ${maxUploadBytes} bytes (set maxUploadBytes on the remote stage to raise it)`,
      false,
    );
  }
}

/**
 * A streamed artifact was not the size it was declared (or first measured) to be: the source ended
 * early or ran over, the file changed while it uploaded, or a download ended short. Nothing was
 * stored (an upload is aborted, a partial download removed). Not retryable: the same source
 * would do it again.
 */
export class ArtifactSizeMismatchError extends WorkerError {
  constructor(
    readonly artifact: string,
    readonly expected: number,
    readonly actual: number,
    why: string,
  ) {
    super("ARTIFACT_SIZE_MISMATCH", `artifact "${artifact}": expected ${expected} bytes, ${why} ${actual}`, false);
  }
}

/**
 * One part of a multipart upload (or a download) failed after its bounded retries; the upload
 * was aborted. Retryable as an attempt: the store or the network may be back by then.
 */
export class ArtifactPartFailedError extends WorkerError {
  constructor(
    readonly artifact: string,
    readonly partNumber: number,
    readonly attempts: number,
    readonly status: number | undefined,
    detail: string,
  ) {
    super(
      "ARTIFACT",
      `artifact "${artifact}": part ${partNumber} failed after ${attempts} attempt(s)${status ? ` (HTTP ${status})` : ""}: ${detail}`,
      true,
    );
  }
}

/** Bad worker options; `issues` name each bad or unknown field when options failed validation. */
export class WorkerConfigError extends WorkerError {
  readonly issues: ValidationIssue[];
  constructor(message: string, issues: ValidationIssue[] = []) {
    super("CONFIG", `createActivityWorker: ${message}`, false);
    this.issues = issues;
  }
}

/**
 * An activity module threw while it was imported (its own code failed, not its path or shape). A
 * worker service treats this as a crash it retries with backoff: the cause may be transient (a
 * file or service the module reads at load). `cause` keeps the module's own error and stack.
 */
export class ModuleLoadError extends WorkerConfigError {
  constructor(file: string, cause: unknown) {
    super(`cannot load module ${file}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.cause = cause;
  }
}

/**
 * The activity's thread died without an answer: an uncaught exception or unhandled rejection
 * outside the stage's promise, or an exit. Retryable: the next attempt runs in a fresh thread.
 */
export class ActivityCrashedError extends WorkerError {
  constructor(message: string) {
    super("ACTIVITY_CRASHED", message, true);
  }
}

/**
 * The activity's thread did not get to `stage.execute` in time (its module import hung or crawled):
 * the thread is terminated and the attempt fails retryably instead of holding its lease forever.
 */
export class ActivityStartTimeoutError extends WorkerError {
  constructor(readonly timeoutMs: number) {
    super("ACTIVITY_START_TIMEOUT", `activity thread did not start the stage body within ${timeoutMs} ms (module import stalled)`, true);
  }
}

/** The activity's thread hit its heap limit and was stopped by V8; the worker itself is unharmed. */
export class ActivityHeapExhaustedError extends WorkerError {
  constructor(readonly limitMb: number) {
    super("ACTIVITY_CRASHED", `activity exhausted its heap (limit ${limitMb} MiB)`, true);
  }
}

/**
 * A code bundle from the store failed verification (unknown signer, bad signature, hash or size
 * mismatch, missing) or cannot be read: the worker refuses to load it. Not retryable: the same
 * bytes will fail the same way.
 */
export class BundleRejectedError extends WorkerError {
  constructor(message: string) {
    super("BUNDLE_REJECTED", message, false);
  }
}

/** Typed errors of the remote-activity broker (all `JetflowError`s with a stable code). */
import { JetflowError } from "../contract/errors.js";

/** A presign request named a key outside what the attempt may touch (confused-deputy protection). */
export class PresignRefusedError extends JetflowError {
  constructor(key: string, why: string, allowedPrefix: string) {
    super("VALIDATION", `presign refused for key "${key}": ${why} (allowed: ${allowedPrefix})`, { key, allowedPrefix });
  }
}

/**
 * A presign for an upload larger than the task allows (its `maxUploadBytes`): refused before any
 * URL is signed. Retrying the same upload cannot help.
 */
export class UploadTooLargeError extends JetflowError {
  constructor(
    readonly key: string,
    readonly size: number,
    readonly maxUploadBytes: number,
  ) {
    super(
      "VALIDATION",
      `upload refused for key "${key}": ${size} bytes exceed the task's maxUploadBytes limit of ${maxUploadBytes} bytes`,
      {
        key,
        size,
        maxUploadBytes,
      },
    );
  }
}

/** The caller's attempt does not hold the task's lease (stale, superseded or never started). */
export class LeaseNotHeldError extends JetflowError {
  constructor(taskId: string, attempt: number, detail: string) {
    super("CONFLICT", `task "${taskId}" attempt ${attempt} does not hold the lease: ${detail}`, { taskId, attempt });
  }
}

/** No task with this id exists in the store. */
export class TaskNotFoundError extends JetflowError {
  constructor(taskId: string) {
    super("INVALID_STATE", `activity task "${taskId}" does not exist`, { taskId });
  }
}

/** The broker has no dispatcher to publish tasks with (wire one before submitting). */
export class DispatcherMissingError extends JetflowError {
  constructor() {
    super("UNAVAILABLE", "the broker has no TaskDispatcher: pass one to createBroker or call attachDispatcher()");
  }
}

/** A remote activity ended without output: failed, cancelled, timed out or abandoned. */
export class RemoteActivityError extends JetflowError {
  constructor(
    readonly taskId: string,
    readonly outcome: "failed" | "cancelled" | "timeout" | "abandoned",
    message: string,
  ) {
    super("STAGE_FAILED", message, { taskId, outcome });
  }
}

/** Message naming both versions, used wherever a code-version mismatch fails a task. */
export function versionMismatchMessage(taskVersion: string, otherVersion: string, who: string): string {
  return `code version mismatch: task was created for stageCodeVersion "${taskVersion}" but ${who} runs "${otherVersion}"`;
}

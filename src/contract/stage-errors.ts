import { JetflowError } from "./errors.js";

/**
 * Throw from a stage when another attempt cannot succeed (unknown document, rejected request):
 * the kernel fails the stage at once instead of spending its retry policy. Any error carrying
 * `retryable: false` is treated the same way; schema failures never retry either.
 */
export class NonRetryableStageError extends JetflowError {
  readonly retryable = false as const;
  constructor(message: string, details?: unknown) {
    super("STAGE_FAILED", message, details);
  }
}

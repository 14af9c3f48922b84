import { JetflowError } from "../contract/errors.js";

/**
 * An AI call was refused (or its cost went past the cap): the run's or the stage's AI budget is
 * spent. Not retryable: another attempt would spend on the same budget.
 */
export class AIBudgetExceededError extends JetflowError {
  readonly retryable = false as const;
  constructor(
    readonly scope: "run" | "stage",
    readonly capUsd: number,
    readonly spentUsd: number,
    detail: string,
  ) {
    super("STAGE_FAILED", `AI budget of the ${scope} exceeded: spent $${spentUsd.toFixed(6)} of $${capUsd} (${detail})`, {
      scope,
      capUsd,
      spentUsd,
    });
  }
}

/** The helper cannot record calls (no `ctx.ai`) or was given an unusable option. */
export class AIHelperError extends JetflowError {
  readonly retryable = false as const;
  constructor(message: string) {
    super("VALIDATION", message);
  }
}

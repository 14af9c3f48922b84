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

/** How a batch API request went wrong. */
export type AIBatchProviderErrorKind = "http" | "malformed" | "network" | "timeout";

/**
 * A provider batch API (OpenAI `/v1/batches`, Anthropic `/v1/messages/batches`) answered with an
 * HTTP error, answered something that is not what its API documents (`malformed`), or did not
 * answer in time. Names the provider and the endpoint; carries the HTTP status and the
 * provider's own error message, never the API key. `retryable` when another attempt later could
 * succeed (timeouts, network errors, 429 and 5xx once the client's own retries are spent).
 */
export class AIBatchProviderError extends JetflowError {
  readonly retryable: boolean;
  constructor(
    readonly provider: string,
    readonly endpoint: string,
    readonly kind: AIBatchProviderErrorKind,
    detail: string,
    readonly status?: number,
  ) {
    const retryable =
      kind === "network" || kind === "timeout" || (kind === "http" && status !== undefined && (status === 429 || status >= 500));
    const what =
      kind === "http"
        ? `answered HTTP ${status}`
        : kind === "malformed"
          ? "answered a malformed response"
          : kind === "timeout"
            ? "timed out"
            : "failed";
    super(
      retryable ? "UNAVAILABLE" : kind === "malformed" ? "INTERNAL" : "STAGE_FAILED",
      `${provider} batch API ${endpoint} ${what}: ${detail}`,
      {
        provider,
        endpoint,
        kind,
        ...(status !== undefined ? { status } : {}),
      },
    );
    this.retryable = retryable;
  }
}

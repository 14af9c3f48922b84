/**
 * Defaults of the knobs both the orchestrator and the worker read. Each knob has one owner
 * and one default, here; components import the constant instead of repeating the number.
 */

/** Stage outputs whose JSON is larger are stored as an artifact and referenced (orchestrator and worker alike). */
export const DEFAULT_INLINE_OUTPUT_LIMIT_BYTES = 64 * 1024;

/** How often a worker heartbeats a running task (an in-progress ack plus, throttled, progress details). */
export const DEFAULT_TASK_HEARTBEAT_INTERVAL_MS = 5_000;

/** A remote task's lease: the task consumer's AckWait; a worker silent this long loses the task. */
export const DEFAULT_TASK_LEASE_MS = 30_000;

/** A RUNNING run with no activity for this long is repaired by `run.reapStuck`. */
export const DEFAULT_STUCK_RUN_THRESHOLD_MS = 5 * 60_000;

/** Part size of a worker's multipart uploads (S3 allows 5 MiB to 5 GiB). */
export const DEFAULT_PART_SIZE = 64 * 1024 * 1024;

/**
 * Largest artifact one upload may store, unless the stage or the orchestrator's `remote` config
 * says otherwise: 5 GiB, S3's limit for a single PUT. Bigger artifacts need a stage that raises it
 * (multipart then goes up to S3's own 10,000 parts of 5 GiB).
 */
export const DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 * 1024 * 1024;

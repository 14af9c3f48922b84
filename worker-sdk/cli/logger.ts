/**
 * The worker processes' logger: one JSON object per line on stderr, with the active span's
 * trace ids, so a worker machine needs no logging library. pino-compatible call shape.
 */
import { traceLogFields } from "../../src/contract/log-correlation.js";
import type { WorkerLogger } from "../logger.js";

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, silent: Infinity } as const;
export type LogLevelName = keyof typeof LEVELS;

/** A logger writing lines at or above `level`, each with `base` fields. */
export function createJsonLogger(
  level: LogLevelName,
  base: Record<string, unknown>,
  write: (line: string) => void = (l) => process.stderr.write(l),
): WorkerLogger {
  const min = LEVELS[level];
  const at =
    (name: Exclude<LogLevelName, "silent">) =>
    (obj: Record<string, unknown>, msg?: string): void => {
      if (LEVELS[name] < min) return;
      write(
        `${JSON.stringify({ level: name, time: Date.now(), ...base, ...traceLogFields(), ...obj, ...(msg !== undefined ? { msg } : {}) })}\n`,
      );
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

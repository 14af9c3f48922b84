/** The structured logger the worker writes to (pino fits as is). */
export interface WorkerLogger {
  debug(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
}

const noop = () => {};
export const silentWorkerLogger: WorkerLogger = { debug: noop, info: noop, warn: noop, error: noop };

/** A local service `jetflow dev` needs could not be provided; the message says how to fix it. */
export class DevSetupError extends Error {
  readonly code = "DEV_SETUP";
  constructor(message: string) {
    super(message);
    this.name = "DevSetupError";
  }
}

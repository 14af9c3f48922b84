import type { KernelCommand } from "../kernel/commands.js";

/** Triggers a kernel command later (cron, delayed queue); hosts that poll may ignore it. */
export interface Scheduler {
  schedule(command: KernelCommand, runAt: Date): Promise<void>;
}

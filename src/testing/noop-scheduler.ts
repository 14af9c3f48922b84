import type { KernelCommand } from "../kernel/commands.js";
import type { Scheduler } from "../ports/scheduler.js";
import { deepCopy } from "./clone.js";

/** One call to `schedule`, as recorded by NoopScheduler. */
export interface ScheduledCommand {
  command: KernelCommand;
  runAt: Date;
}

/**
 * A Scheduler for hosts that poll: it triggers nothing, but records every request so a test
 * can assert what the kernel asked to be scheduled.
 */
export class NoopScheduler implements Scheduler {
  readonly scheduled: ScheduledCommand[] = [];

  async schedule(command: KernelCommand, runAt: Date): Promise<void> {
    this.scheduled.push({ command: deepCopy(command), runAt: new Date(runAt.getTime()) });
  }

  clear(): void {
    this.scheduled.length = 0;
  }
}

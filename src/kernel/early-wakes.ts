/**
 * Wake-ups that arrived before the stage they wake was suspended. A remote activity can finish
 * before the kernel has committed its stage as SUSPENDED (a fast worker beats the job's last
 * commit); `stage.wake` then finds the stage RUNNING and would leave the run to its next poll
 * (5 s by default). Each wake is noted here before its update and forgotten once it woke a
 * SUSPENDED stage, so whichever of the two commits second sees the other: the suspension, once
 * committed, finds a wake still noted and wakes its stage again at once. A duplicate wake is
 * harmless (the check finds the stage already resumed); only a wake never noted is lost, and
 * the poll still covers that.
 */

/** Entries older than this are dropped once the map is large: their stage resumed long ago, or never will here. */
const FORGET_AFTER_MS = 60_000;
const PRUNE_ABOVE = 1_000;

export class EarlyWakes {
  private readonly noted = new Map<string, number>();

  private static key(workflowRunId: string, stageId: string): string {
    return `${workflowRunId}\u0000${stageId}`;
  }

  /** Before a wake's update: the stage may not be SUSPENDED yet. */
  note(workflowRunId: string, stageId: string): void {
    if (this.noted.size >= PRUNE_ABOVE) {
      const before = Date.now() - FORGET_AFTER_MS;
      for (const [k, at] of this.noted) if (at < before) this.noted.delete(k);
    }
    this.noted.set(EarlyWakes.key(workflowRunId, stageId), Date.now());
  }

  /** The wake reached a SUSPENDED stage (or the suspension took it): nothing left to redo. */
  forget(workflowRunId: string, stageId: string): void {
    this.noted.delete(EarlyWakes.key(workflowRunId, stageId));
  }

  /** After a suspension committed: true (once) when a wake for the stage came in meanwhile. */
  take(workflowRunId: string, stageId: string): boolean {
    return this.noted.delete(EarlyWakes.key(workflowRunId, stageId));
  }
}

import type { OutboxFlushCommand, OutboxFlushResult, PluginReplayDLQCommand, PluginReplayDLQResult } from "../commands.js";
import type { KernelDeps } from "../deps.js";
import { deliverRows } from "../outbox.js";

/** outbox.flush: delivers rows left behind by a failed or crashed fast path. */
export async function outboxFlush(deps: KernelDeps, cmd: OutboxFlushCommand): Promise<OutboxFlushResult> {
  // Rows this process delivered but has not marked yet must not look undelivered.
  await deps.outboxMarks.drain();
  const rows = await deps.persistence.claimOutbox({
    now: deps.clock.now(),
    limit: cmd.maxEvents ?? 100,
    leaseMs: deps.options.outboxClaimMs,
  });
  return deliverRows(deps, rows);
}

/** plugin.replayDLQ: puts dead-lettered rows back and tries to deliver them right away. */
export async function pluginReplayDLQ(deps: KernelDeps, cmd: PluginReplayDLQCommand): Promise<PluginReplayDLQResult> {
  const dead = await deps.persistence.listDeadLetters(cmd.maxEvents ?? 100);
  if (dead.length === 0) return { replayed: 0 };
  const ids = dead.map((d) => d.id);
  const now = deps.clock.now();
  const replayed = await deps.persistence.requeueDeadLetters(ids, now);
  // Delivered now when possible; whatever fails again follows the normal retry → dead-letter path.
  const rows = await deps.persistence.claimOutbox({ now, limit: ids.length, leaseMs: deps.options.outboxClaimMs, ids });
  await deliverRows(deps, rows);
  return { replayed };
}

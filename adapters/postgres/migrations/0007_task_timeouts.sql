-- Temporal-style timeouts of a remote task (issue 18): `timeouts` holds the stage's
-- {scheduleToStartMs, startToCloseMs, heartbeatTimeoutMs} (null: none), fixed at creation.
-- `attempt_started_at` is when the current attempt started (startToClose counts from it) and
-- `progress_at` when it last heartbeated with details, or started (heartbeatTimeout counts from it).
-- The store caps every lease deadline at the first of those timers, so a timed-out attempt loses
-- its lease like a dead worker's and is redelivered or failed by the reaper, which names the timer.
alter table {{schema}}.activity_tasks add column timeouts jsonb;
alter table {{schema}}.activity_tasks add column attempt_started_at timestamptz;
alter table {{schema}}.activity_tasks add column progress_at timestamptz;

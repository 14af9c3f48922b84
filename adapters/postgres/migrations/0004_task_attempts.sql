-- Every started attempt of a remote task, oldest first: [{attempt, workerId, startedAt}], appended
-- by the same guarded update that opens the attempt (the row otherwise keeps only the current
-- attempt's worker). The console's timeline shows a worker per attempt from it. Null for tasks
-- created before this migration and for tasks no worker started yet.
alter table {{schema}}.activity_tasks add column attempts jsonb;

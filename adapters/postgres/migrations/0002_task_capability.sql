-- Proof of delivery for remote tasks: a random secret carried only in the task message on the
-- task's own queue subject. A worker must present it to start an attempt, so a credential that
-- was never delivered the task cannot start it. Null for tasks created before this migration.
alter table {{schema}}.activity_tasks add column capability text;

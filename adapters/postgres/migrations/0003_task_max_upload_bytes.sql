-- The largest artifact one upload of a remote task may store (bytes), fixed when the task is
-- created from its stage's option or the orchestrator's default. The broker refuses presigns over
-- it and signs the declared size into every upload URL. Null for tasks created before this
-- migration (the broker then applies its configured default).
alter table {{schema}}.activity_tasks add column max_upload_bytes bigint check (max_upload_bytes > 0);

-- claimStranded: the reaper's scan for live tasks whose message may be gone, oldest change first.
-- Partial, so terminal tasks (the bulk of the table) cost nothing.
create index activity_tasks_stranded_idx on {{schema}}.activity_tasks (updated_at) where status in ('PENDING', 'LEASED');

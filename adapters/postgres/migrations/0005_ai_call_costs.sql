-- AI call accounting (jetflow/ai): a call whose model has no price in the catalogue stores a null
-- cost ("unknown", never guessed), and cost reports filter by time (`jetflow costs --since 7d`).
alter table {{schema}}.ai_calls alter column cost drop not null;
create index ai_calls_created_idx on {{schema}}.ai_calls (created_at);

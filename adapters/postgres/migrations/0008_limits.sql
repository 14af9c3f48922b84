-- Rate limits and concurrency keys (issue 18 item 3, docs/flow-control.md).
-- limit_keys: one row per (limit, key), locked by every admission of that key, so all
-- orchestrators serialise on it; key '' is a limit's total. tokens/refilled_at: token bucket;
-- last_admitted_at: round-robin order between keys.
create table {{schema}}.limit_keys (
  limit_id          text not null,
  key               text not null,
  tokens            double precision,
  refilled_at       timestamptz,
  last_admitted_at  timestamptz,
  primary key (limit_id, key)
);
-- limit_slots: a stage's slot; held while the stage is RUNNING/SUSPENDED at `attempt`, or PENDING
-- one attempt behind and granted recently (see LimitSlot). Derived from the stage row, so every
-- path that moves the stage on (complete, fail, cancel, retry, reap) frees it in its own commit.
create table {{schema}}.limit_slots (
  limit_id    text not null,
  key         text not null,
  run_id      text not null,
  stage_id    text not null,
  attempt     integer not null,
  granted_at  timestamptz not null,
  primary key (limit_id, run_id, stage_id)
);
create index limit_slots_key_idx on {{schema}}.limit_slots (limit_id, key);
-- limit_waiters: stages parked by a limit, with the reason shown by runs.get.
create table {{schema}}.limit_waiters (
  run_id       text not null,
  stage_id     text not null,
  workflow_id  text not null,
  attempt      integer not null,
  limit_id     text not null,
  key          text not null,
  checks       jsonb not null,
  reason       text not null,
  detail       text not null,
  retry_at     timestamptz,
  parks        integer not null,
  created_at   timestamptz not null,
  updated_at   timestamptz not null,
  primary key (run_id, stage_id)
);
create index limit_waiters_limit_idx on {{schema}}.limit_waiters (limit_id, key, created_at);

-- jetflow schema, version 1. `{{schema}}` is replaced by the quoted schema name at migrate time.
-- No foreign keys between tables on purpose: the kernel writes rows in its own order (a stage row
-- may be upserted in the same transaction as, or before reading, its run) and the in-memory
-- adapter — the reference semantics — has none either. Run deletion is not part of the contract.

create table {{schema}}.runs (
  id                  text primary key,
  workflow_id         text not null,
  status              text not null check (status in ('PENDING','RUNNING','COMPLETED','FAILED','CANCELLED')),
  input               jsonb,
  config              jsonb not null default '{}'::jsonb,
  output              jsonb,
  error               text,
  current_group_index integer not null default -1,
  priority            integer not null default 0,
  claimed_by          text,
  trace_context       jsonb,
  created_at          timestamptz not null,
  updated_at          timestamptz not null,
  started_at          timestamptz,
  completed_at        timestamptz,
  last_activity_at    timestamptz not null
);
-- claimPendingRuns: highest priority, then oldest, among PENDING.
create index runs_claim_idx on {{schema}}.runs (status, priority desc, created_at);
-- listRuns: newest first, keyset on created_at, optionally per workflow.
create index runs_created_idx on {{schema}}.runs (created_at desc, id desc);
create index runs_workflow_created_idx on {{schema}}.runs (workflow_id, created_at desc, id desc);
-- findStaleRunningRuns.
create index runs_running_activity_idx on {{schema}}.runs (last_activity_at) where status = 'RUNNING';

create table {{schema}}.stages (
  id                text primary key,
  run_id            text not null,
  stage_id          text not null,
  stage_name        text not null,
  group_index       integer not null,
  status            text not null check (status in ('PENDING','RUNNING','SUSPENDED','COMPLETED','FAILED','CANCELLED')),
  attempt           integer not null default 0,
  max_attempts      integer not null,
  execution_token   text,
  output            jsonb,
  output_ref        text,
  error             text,
  suspended_state   jsonb,
  next_poll_at      timestamptz,
  poll_interval_ms  integer,
  max_wait_until    timestamptz,
  metrics           jsonb,
  trace_context     jsonb,
  created_at        timestamptz not null,
  updated_at        timestamptz not null,
  started_at        timestamptz,
  completed_at      timestamptz,
  seq               bigint generated always as identity,
  constraint stages_run_stage_key unique (run_id, stage_id)
);
-- claimDueSuspendedStages.
create index stages_suspended_due_idx on {{schema}}.stages (status, next_poll_at) where status = 'SUSPENDED';

create table {{schema}}.logs (
  id          text primary key,
  seq         bigint generated always as identity,
  run_id      text not null,
  stage_id    text,
  level       text not null,
  message     text not null,
  meta        jsonb,
  created_at  timestamptz not null
);
create index logs_run_idx on {{schema}}.logs (run_id, created_at, seq);

create table {{schema}}.artifacts (
  run_id        text not null,
  key           text not null,
  stage_id      text,
  size          bigint not null,
  content_type  text,
  created_at    timestamptz not null,
  primary key (run_id, key)
);
create index artifacts_prefix_idx on {{schema}}.artifacts (run_id, key text_pattern_ops);

create table {{schema}}.outbox (
  id                text primary key,
  seq               bigint generated always as identity,
  kind              text not null check (kind in ('event','job')),
  run_id            text not null,
  type              text not null,
  payload           jsonb not null,
  created_at        timestamptz not null,
  published_at      timestamptz,
  claimed_until     timestamptz,
  attempts          integer not null default 0,
  last_error        text,
  dead_lettered_at  timestamptz
);
-- claimOutbox: unpublished, live rows, oldest first; claimed_until filtered from the index.
create index outbox_unpublished_idx on {{schema}}.outbox (created_at, seq) include (claimed_until)
  where published_at is null and dead_lettered_at is null;
create index outbox_dead_idx on {{schema}}.outbox (dead_lettered_at, created_at)
  where dead_lettered_at is not null and published_at is null;

create table {{schema}}.idempotency_keys (
  command     text not null,
  key         text not null,
  status      text not null check (status in ('IN_PROGRESS','COMPLETED')),
  result      jsonb,
  created_at  timestamptz not null,
  updated_at  timestamptz not null,
  constraint idempotency_keys_pkey primary key (command, key)
);

create table {{schema}}.annotations (
  id               text primary key,
  seq              bigint generated always as identity,
  run_id           text not null,
  stage_id         text,
  key              text not null,
  value            jsonb,
  actor_kind       text not null,
  actor_id         text not null,
  idempotency_key  text,
  created_at       timestamptz not null,
  -- NULL keys never conflict (NULLs are distinct), so only keyed rows are de-duplicated.
  constraint annotations_run_idem_key unique (run_id, idempotency_key)
);
create index annotations_prefix_idx on {{schema}}.annotations (run_id, key text_pattern_ops);
create index annotations_run_created_idx on {{schema}}.annotations (run_id, created_at, seq);

create table {{schema}}.ai_calls (
  id             text primary key,
  seq            bigint generated always as identity,
  topic          text not null,
  model          text not null,
  call_type      text not null,
  input_tokens   integer not null,
  output_tokens  integer not null,
  cost           double precision not null,
  meta           jsonb,
  created_at     timestamptz not null
);
create index ai_calls_topic_idx on {{schema}}.ai_calls (topic text_pattern_ops);

create table {{schema}}.activity_tasks (
  task_id            text primary key,
  run_id             text not null,
  workflow_id        text not null,
  stage_id           text not null,
  queue              text not null,
  code_version       text not null,
  required_labels    jsonb not null default '{}'::jsonb,
  status             text not null check (status in ('PENDING','LEASED','COMPLETED','FAILED','CANCELLED')),
  attempt            integer not null default 0,
  max_attempts       integer not null,
  lease_token        text,
  lease_deadline     timestamptz,
  worker_id          text,
  input              jsonb,
  config             jsonb,
  heartbeat_details  jsonb,
  heartbeat_at       timestamptz,
  outcome            text check (outcome in ('completed','failed','cancelled')),
  output             jsonb,
  error              text,
  report             jsonb,
  reported_at        timestamptz,
  deadline           timestamptz,
  trace_context      jsonb,
  created_at         timestamptz not null,
  updated_at         timestamptz not null,
  seq                bigint generated always as identity
);
-- findExpired: leases past their deadline, and live tasks past their absolute deadline.
create index activity_tasks_lease_idx on {{schema}}.activity_tasks (lease_deadline) where status = 'LEASED';
create index activity_tasks_deadline_idx on {{schema}}.activity_tasks (deadline)
  where status in ('PENDING','LEASED') and deadline is not null;
create index activity_tasks_run_idx on {{schema}}.activity_tasks (run_id);
create index activity_tasks_queue_idx on {{schema}}.activity_tasks (queue, status);

-- Late or stale reports refused by the fence, kept for audit.
create table {{schema}}.activity_rejected_reports (
  id           bigint generated always as identity primary key,
  task_id      text not null,
  attempt      integer not null,
  lease_token  text not null,
  reason       text not null,
  report       jsonb,
  received_at  timestamptz not null
);
create index activity_rejected_reports_task_idx on {{schema}}.activity_rejected_reports (task_id);

-- The Postgres JobTransport's queue (pg-boss style). Finished rows stay (state done/dead) so a
-- duplicate enqueue of the same job id is dropped; purge them with purgeFinishedJobs().
create sequence {{schema}}.jobs_seq;
create table {{schema}}.jobs (
  job_id            text primary key,
  -- FIFO order within a priority; a re-queued job takes a new value (goes to the back).
  seq               bigint not null default nextval('{{schema}}.jobs_seq'),
  run_id            text not null,
  workflow_id       text not null,
  stage_id          text not null,
  attempt           integer not null,
  max_attempts      integer not null,
  priority          integer not null default 0,
  payload           jsonb not null,
  trace_context     jsonb,
  state             text not null check (state in ('queued','leased','done','dead')),
  available_at      timestamptz not null,
  -- The spec's own availableAt (null when not given), returned unchanged with every delivery.
  spec_available_at timestamptz,
  delivery_count    integer not null default 0,
  lease_token       text,
  lease_expires_at  timestamptz,
  worker_id         text,
  last_error        text,
  dead_reason       text,
  dead_reported     boolean not null default false,
  created_at        timestamptz not null,
  finished_at       timestamptz
);
-- dequeue: due queued jobs, highest priority first, FIFO within a priority.
create index jobs_ready_idx on {{schema}}.jobs (priority desc, seq) where state = 'queued';
create index jobs_due_idx on {{schema}}.jobs (available_at, priority) where state = 'queued';
-- releaseStale.
create index jobs_lease_idx on {{schema}}.jobs (lease_expires_at) where state = 'leased';
create index jobs_dead_unreported_idx on {{schema}}.jobs (finished_at) where state = 'dead' and not dead_reported;
create index jobs_finished_idx on {{schema}}.jobs (finished_at) where state in ('done','dead');

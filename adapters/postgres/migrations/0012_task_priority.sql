-- The priority a remote task was submitted with (issue 18, flow control). Its band chose the
-- subject and consumer of the task's first message; stored, every later message of the task (a
-- re-dispatch of a lost or exhausted message, a reissue after a lapsed lease) goes to the same
-- band instead of the normal one. int4 like runs.priority.
alter table {{schema}}.activity_tasks add column priority integer not null default 0;
-- Unfinished tasks of before this migration take their run's priority, what a remote stage
-- submits when it sets none of its own; a stage's own priority lives in code, not here.
update {{schema}}.activity_tasks a set priority = r.priority
  from {{schema}}.runs r
  where r.id = a.run_id and a.status in ('PENDING', 'LEASED') and r.priority <> 0;

-- A task capability opens one attempt: capability_spent_by is the attempt it opened (null while
-- unspent). The next attempt after a lapsed lease needs a new capability, published in a new
-- message, so a worker that was delivered the task once cannot start it again on its own word.
alter table {{schema}}.activity_tasks add column capability_spent_by integer;
-- Tasks leased at upgrade time: their capability opened the current attempt.
update {{schema}}.activity_tasks set capability_spent_by = attempt
  where status = 'LEASED' and capability is not null and attempt > 0;

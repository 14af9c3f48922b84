-- Indexes for the console's runs list and counts (issue 16: pages in < 300 ms with a large history).
-- runs.list with a status filter, newest first: walks one status in list order and stops after a
-- page, where runs_claim_idx (status, priority, created_at) made it read every run of that
-- status and sort them (a rare status meant a sort of all of them, a common one a long filter
-- walk of runs_created_idx). It also lets countRunsByStatus count from the index (index-only,
-- once autovacuum has marked pages all-visible) instead of reading every run's row.
create index runs_status_created_idx on {{schema}}.runs (status, created_at desc, id desc);
-- runs.list by annotation key: finds the runs that carry a rare key without probing every run.
create index annotations_key_run_idx on {{schema}}.annotations (key, run_id);
-- runs.list by annotation key and value: equality on the JSON value. A hash index because values
-- are unbounded jsonb (a btree entry is limited to ~2.7 kB and would refuse large values); it stores
-- only the hash, and jsonb hashing agrees with jsonb equality (1.0 and 1 hash alike).
create index annotations_value_hash_idx on {{schema}}.annotations using hash (value);

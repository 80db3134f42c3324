-- Up Migration
-- Worker heartbeats and the sweeper that repairs what a crash left behind.

create table app_private.workers (
  id text primary key,
  hostname text not null,
  pid integer not null,
  concurrency integer not null check (concurrency > 0),
  started_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now()
);
comment on table app_private.workers is
  'One row per running Graphile Worker pool, keyed by its id (the `locked_by` of its jobs and items). A worker is alive while its liveness connection holds its advisory lock or its heartbeat is fresh (see worker_is_alive); the items and jobs of a worker that is not are given back.';
comment on column app_private.workers.id is 'The worker pool''s id, as in graphile_worker jobs'' locked_by.';
comment on column app_private.workers.hostname is 'Where the worker runs.';
comment on column app_private.workers.pid is 'Its process id there.';
comment on column app_private.workers.concurrency is 'How many jobs it runs at once.';
comment on column app_private.workers.started_at is 'When it started.';
comment on column app_private.workers.last_seen_at is 'Its last heartbeat.';

create table app_private.sweeper_repairs (
  id bigint generated always as identity primary key,
  repaired_at timestamptz not null default now(),
  repair text not null check (repair in (
    'released_items', 'removed_dead_worker', 'returned_lost_jobs', 'corrected_counters', 'settled_batch', 'enqueued_summary', 'enqueued_orphaned_items')),
  batch_id uuid,
  worker_id text,
  details jsonb not null default '{}'
) with (vacuum_truncate = false);
create index sweeper_repairs_repaired_at_idx on app_private.sweeper_repairs (repaired_at);
comment on table app_private.sweeper_repairs is
  'Every repair the sweeper made. Each row means something crashed or was damaged; operators should look.';
comment on column app_private.sweeper_repairs.id is 'The repair''s id (increasing).';
comment on column app_private.sweeper_repairs.repaired_at is 'When the sweeper made it.';
comment on column app_private.sweeper_repairs.repair is
  '`released_items` (items of a dead worker back in the queue), `removed_dead_worker`, `returned_lost_jobs` (jobs locked for a live worker that never received them), `corrected_counters`, `settled_batch` (a batch''s status was not what its counters imply: a finalization had not run), `enqueued_summary` (a finished batch had no summary nor a job for one), `enqueued_orphaned_items` (pending items had no job).';
comment on column app_private.sweeper_repairs.batch_id is 'The batch repaired, if any (no foreign key: the log outlives batches).';
comment on column app_private.sweeper_repairs.worker_id is 'The dead worker concerned, if any.';
comment on column app_private.sweeper_repairs.details is 'What was found and what was done.';

create function app_private.worker_stale_after() returns interval
language sql stable parallel safe as $$
  select coalesce(nullif(current_setting('finishline.worker_stale_after', true), '')::interval, interval '5 seconds')
$$;
comment on function app_private.worker_stale_after() is
  'How long a worker may go without a heartbeat, while its liveness connection is gone, before it counts as dead: the setting finishline.worker_stale_after (e.g. `alter database ... set finishline.worker_stale_after = ''10s''`), 5 seconds by default. Workers beat five times within it.';

-- A worker's liveness connection holds an advisory lock for it as long as the connection lives:
-- a process that dies loses it at once, while a process that is merely busy (its event loop
-- blocked, its machine loaded) keeps it, so it is never taken for dead.
create function app_private.worker_lock_key(p_worker_id text) returns integer
language sql immutable parallel safe as $$
  select hashtext('finishline worker ' || p_worker_id)
$$;
comment on function app_private.worker_lock_key(text) is
  'The second key of a worker''s advisory lock, pg_advisory_lock(46150, worker_lock_key(id)); 46150 is finishline''s class of advisory locks.';

create function app_private.worker_holds_lock(p_worker_id text) returns boolean
language sql stable as $$
  -- pg_locks shows a two-key advisory lock with its keys in classid and objid, as unsigned integers.
  select exists (
    select 1 from pg_locks l
    where l.locktype = 'advisory' and l.objsubid = 2 and l.granted
      and l.database = (select d.oid from pg_database d where d.datname = current_database())
      and l.classid = 46150 and l.objid::bigint = app_private.worker_lock_key(p_worker_id)::bigint & 4294967295
  )
$$;
comment on function app_private.worker_holds_lock(text) is 'Whether a liveness connection holds the worker''s advisory lock now.';

create function app_private.worker_is_alive(p_worker_id text) returns boolean
language sql stable as $$
  -- Seconds without a heartbeat count from the database's own start: after a restart every
  -- worker gets worker_stale_after to reconnect before it counts as dead.
  select exists (
    select 1 from app_private.workers w
    where w.id = p_worker_id
      and (greatest(w.last_seen_at, pg_postmaster_start_time()) >= now() - app_private.worker_stale_after()
           or app_private.worker_holds_lock(w.id))
  )
$$;
comment on function app_private.worker_is_alive(text) is
  'Whether the worker runs: its liveness connection holds its lock, or it beat within worker_stale_after (counted from the database''s start, so that a restart kills no one). An id without a heartbeat row is not alive.';

create function app_private.dead_worker_ids(p_stale_after interval default app_private.worker_stale_after()) returns text[]
language sql stable as $$
  select coalesce(array_agg(distinct id), '{}') from (
    select w.id from app_private.workers w
    where greatest(w.last_seen_at, pg_postmaster_start_time()) < now() - p_stale_after
      and not app_private.worker_holds_lock(w.id)
    union
    -- Jobs held by an id that has no heartbeat row: a worker that died before its first beat, or
    -- one removed without giving them back. (Items held so are found by the sweeper, which reads
    -- every unfinished batch's items: no index leads to them.)
    select j.locked_by from graphile_worker.jobs j
    where j.locked_by is not null and j.locked_at < now() - p_stale_after
      and not exists (select 1 from app_private.workers w where w.id = j.locked_by)
  ) dead
$$;
comment on function app_private.dead_worker_ids(interval) is
  'Workers that are not alive (no lock held, no heartbeat within p_stale_after since the database started), and ids with no heartbeat row that hold locked jobs.';

create function app_private.release_dead_workers(
  p_stale_after interval default app_private.worker_stale_after(), p_holders text[] default '{}'
) returns integer
language plpgsql volatile as $$
declare
  v_dead text[];
  v_worker_id text;
  v_held bigint[];
begin
  -- One transaction at a time does this (heartbeats of every worker try, every second).
  if not pg_try_advisory_xact_lock(46150, 0) then
    return 0;
  end if;
  v_dead := array(select distinct id from unnest(app_private.dead_worker_ids(p_stale_after) || p_holders) as d(id));
  foreach v_worker_id in array v_dead loop
    v_held := app_private.held_item_ids(v_worker_id);
    insert into app_private.sweeper_repairs (repair, batch_id, worker_id, details)
    select 'released_items', i.batch_id, v_worker_id, jsonb_build_object('items', count(*))
    from app_public.batch_items i
    where i.id = any(v_held) and i.locked_by = v_worker_id
    group by i.batch_id;
    perform app_private.release_items_of_dead_worker(v_worker_id, v_held);
    -- Graphile Worker alone would leave its jobs locked for four hours.
    perform graphile_worker.force_unlock_workers(array[v_worker_id]);
    insert into app_private.sweeper_repairs (repair, worker_id, details)
    select 'removed_dead_worker', v_worker_id, coalesce(
      (select jsonb_build_object('last_seen_at', w.last_seen_at, 'hostname', w.hostname, 'pid', w.pid)
       from app_private.workers w where w.id = v_worker_id), '{}');
    delete from app_private.workers where id = v_worker_id;
  end loop;
  return cardinality(v_dead);
end
$$;
comment on function app_private.release_dead_workers(interval, text[]) is
  'Gives back what dead workers held (those of dead_worker_ids, and p_holders: ids the sweeper found holding items without a heartbeat row): their processing items go back to the queue (their attempts unspent; see release_items_of_dead_worker), their jobs are unlocked, their heartbeat rows go, each repair logged in sweeper_repairs. Run by every heartbeat and by the sweeper; returns how many workers it found dead.';

-- Graphile Worker locks a job for a worker in the statement that fetches it. When the connection
-- breaks after that statement committed and before its answer arrived, the worker never learns of
-- the job, yet the job stays locked by a worker that is alive: for four hours, in Graphile Worker
-- alone, and its batch with it. Only the worker knows which jobs it runs, so its heartbeat says.
create function app_private.return_lost_jobs(p_worker_id text, p_running_job_ids bigint[]) returns integer
language plpgsql volatile as $$
declare
  v_returned bigint[];
begin
  with returned as (
    -- As Graphile Worker gives back a job it fetched and did not run: its attempt too.
    update graphile_worker._private_jobs j set attempts = greatest(0, j.attempts - 1), locked_by = null, locked_at = null
    where j.locked_by = p_worker_id
      -- A fetch whose answer is on its way is not lost: it was locked moments ago.
      and j.locked_at < now() - app_private.worker_stale_after()
      and j.id <> all(p_running_job_ids)
    returning j.id, j.job_queue_id
  ), unlocked_queues as (
    update graphile_worker._private_job_queues q set locked_by = null, locked_at = null
    where q.locked_by = p_worker_id and q.id in (select r.job_queue_id from returned r)
  )
  select coalesce(array_agg(r.id order by r.id), '{}') into v_returned from returned r;
  if cardinality(v_returned) > 0 then
    insert into app_private.sweeper_repairs (repair, worker_id, details)
    values ('returned_lost_jobs', p_worker_id, jsonb_build_object('jobs', v_returned));
  end if;
  return cardinality(v_returned);
end
$$;
comment on function app_private.return_lost_jobs(text, bigint[]) is
  'Gives back the jobs locked for a live worker that it is not running (p_running_job_ids: those it runs, and those it finished moments ago): a fetch that committed while its answer was lost to a broken connection. Jobs locked within worker_stale_after are left alone, their answer may be on its way. Each job''s attempt is given back and its named queue unlocked, the repair logged in sweeper_repairs. Returns how many jobs it gave back.';

create function app_private.record_worker_heartbeat(
  p_worker_id text, p_hostname text, p_pid integer, p_concurrency integer, p_running_job_ids bigint[],
  out dead_workers integer, out lost_jobs integer
)
language plpgsql volatile as $$
begin
  -- Called on the worker's liveness connection, which takes the worker's lock the first time.
  -- (A lock still held by an older connection of the same worker is as good.)
  if not app_private.worker_holds_lock(p_worker_id) then
    perform pg_try_advisory_lock(46150, app_private.worker_lock_key(p_worker_id));
  end if;
  insert into app_private.workers as w (id, hostname, pid, concurrency)
  values (p_worker_id, p_hostname, p_pid, p_concurrency)
  on conflict (id) do update set last_seen_at = now();
  lost_jobs := app_private.return_lost_jobs(p_worker_id, p_running_job_ids);
  -- What a peer that died held is given back now, not at the next crontab minute, and whether
  -- or not a worker is free to run the sweeper.
  dead_workers := app_private.release_dead_workers();
end
$$;
comment on function app_private.record_worker_heartbeat(text, text, integer, integer, bigint[]) is
  'Records that a worker is alive, holding its lock on this connection, gives back the jobs locked for it that it does not run (return_lost_jobs; p_running_job_ids are those it runs), and gives back what dead workers held. Returns how many dead workers it found and how many lost jobs it gave back.';

create function app_private.forget_worker(p_worker_id text) returns integer
language plpgsql volatile as $$
declare
  v_released integer;
begin
  v_released := app_private.release_items(p_worker_id, null, null, false);
  perform graphile_worker.force_unlock_workers(array[p_worker_id]);
  delete from app_private.workers where id = p_worker_id;
  -- On the worker's liveness connection, its lock goes too (taken once per connection, but
  -- release every hold this session may have).
  while exists (select 1 from pg_locks l where l.pid = pg_backend_pid() and l.locktype = 'advisory' and l.objsubid = 2
                and l.classid = 46150 and l.objid::bigint = app_private.worker_lock_key(p_worker_id)::bigint & 4294967295) loop
    perform pg_advisory_unlock(46150, app_private.worker_lock_key(p_worker_id));
  end loop;
  return v_released;
end
$$;
comment on function app_private.forget_worker(text) is
  'Called by a worker that stops (or whose pool stopped) on its liveness connection: in one transaction, gives back every item it still holds (without spending an attempt), unlocks its jobs, removes its heartbeat and releases its lock. Returns how many items it gave back.';

-- PL/pgSQL, whose plan is cached: a SQL function with a subquery is not inlined, so it would be
-- planned again on every call, for every row of batch_status_summary that gets this far.
create function app_private.batch_has_runnable_job(p_batch_id uuid) returns boolean
language plpgsql stable as $$
begin
  return exists (
    select 1 from app_private.chunk_jobs c
    join graphile_worker.jobs j on j.id = c.job_id
    where c.batch_id = p_batch_id and j.attempts < j.max_attempts
  );
end
$$;
comment on function app_private.batch_has_runnable_job(uuid) is
  'Whether a job enqueued for the batch''s items is still queued or running (not failed for good). Jobs of other batches, even of the same task, do not count.';

-- One statement, so one snapshot: a transaction's items and its counter slot are seen together or
-- not at all, and a batch's counters agree with its items unless something is wrong. Its items are
-- named by p_batch_id and planned for that batch (see write_run_summary): the sweep checks every
-- unfinished batch each minute, and a plan costed for the average batch reads the whole table for
-- each small one.
create function app_private.check_batch_counters(p_batch_id uuid, p_stale_after interval)
returns table (
  counters app_private.batch_counters, status text,
  pending_items integer, processing_items integer, succeeded_items integer, failed_items integer, cancelled_items integer,
  total_items integer, counters_agree boolean, status_agrees boolean, rowless_holders text[])
language plpgsql stable set plan_cache_mode to force_custom_plan as $$
#variable_conflict use_column
begin
  return query
  select c, b.status, a.pending_items, a.processing_items, a.succeeded_items, a.failed_items, a.cancelled_items, a.total_items,
    (c.pending_items + c.processing_items, c.succeeded_items, c.failed_items, c.cancelled_items)
      is not distinct from (a.pending_items + a.processing_items, a.succeeded_items, a.failed_items, a.cancelled_items),
    b.status is not distinct from app_private.batch_status_for(c, b.started_at is not null),
    coalesce(a.rowless_holders, '{}')
  from app_public.batches b
  join app_private.batch_counters c on c.batch_id = b.id
  cross join lateral (
    select
      count(*) filter (where i.status = 'pending')::integer as pending_items,
      count(*) filter (where i.status = 'processing')::integer as processing_items,
      count(*) filter (where i.status = 'succeeded')::integer as succeeded_items,
      count(*) filter (where i.status = 'failed')::integer as failed_items,
      count(*) filter (where i.status = 'cancelled')::integer as cancelled_items,
      count(*)::integer as total_items,
      array_agg(distinct i.locked_by) filter (where i.locked_by is not null and i.started_at < now() - p_stale_after
        and not exists (select 1 from app_private.workers w where w.id = i.locked_by)) as rowless_holders
    from app_public.batch_items i where i.batch_id = p_batch_id
  ) a
  where b.id = p_batch_id;
end
$$;
comment on function app_private.check_batch_counters(uuid, interval) is
  'A batch''s counters beside a count of its items (pending and processing compared as one), whether they agree, whether its status is the one they imply, and the ids holding its items that have no heartbeat row and started before p_stale_after: what sweep_batches checks.';

create function app_private.sweep_batches(
  p_stale_after interval default app_private.worker_stale_after(),
  p_idle_after interval default '5 minutes'
) returns jsonb
language plpgsql volatile as $$
declare
  v_counts jsonb := '{}';
  v_row record;
  v_counters app_private.batch_counters;
  v_check record;
  v_settled integer;
  v_n integer;
  v_rowless_holders text[] := '{}';
  v_checked_finished uuid[] := '{}';
begin
  -- 1. Dead workers: what they held goes back (their heartbeats usually did this already).
  v_n := app_private.release_dead_workers(p_stale_after);
  if v_n > 0 then
    v_counts := v_counts || jsonb_build_object('dead_workers', v_n);
  end if;

  -- 2. Counters against the items, for unfinished batches and those finished within the hour
  --    that no sweep has found right since they finished (counters_checked_at).
  --    Read first without a lock (check_batch_counters), so that a sweep holds up no batch whose
  --    counters are right. Only a batch found wrong is locked and read again: every transaction
  --    that finishes items or adds them locks that row first, so none is half done then.
  --    Claims and items given back take no lock, so pending and processing are compared as one
  --    (their sum is all a claim cannot change), and written from the count when corrected.
  --    A batch whose items were pruned keeps its counts without its items: nothing to check.
  --    With counters right, a batch whose status is not what they imply is settled: a
  --    finalization that never ran (its finalize_batch job lost) happens here.
  v_n := 0;
  v_settled := 0;
  for v_row in
    select b.id, b.finished_at from app_public.batches b where b.finished_at is null
    union all
    select b.id, b.finished_at from app_public.batches b
    join app_private.batch_counter_slots s on s.batch_id = b.id and s.slot = 0
    where b.finished_at > now() - interval '1 hour' and b.items_pruned_at is null
      and (s.counters_checked_at is null or s.counters_checked_at < b.finished_at)
  loop
    select * into v_check from app_private.check_batch_counters(v_row.id, p_stale_after);
    continue when not found;
    v_rowless_holders := v_rowless_holders || v_check.rowless_holders;
    if v_check.counters_agree and v_check.status_agrees then
      if v_row.finished_at is not null then
        v_checked_finished := v_checked_finished || v_row.id;
      end if;
      continue;
    end if;
    perform from app_public.batches b where b.id = v_row.id for no key update skip locked;
    continue when not found;
    select * into v_check from app_private.check_batch_counters(v_row.id, p_stale_after);
    v_counters := v_check.counters;
    if not v_check.counters_agree then
      delete from app_private.batch_counter_slots where batch_id = v_row.id and slot <> 0;
      update app_private.batch_counter_slots set
        pending_items = v_check.pending_items, processing_items = v_check.processing_items, succeeded_items = v_check.succeeded_items,
        failed_items = v_check.failed_items, cancelled_items = v_check.cancelled_items,
        last_item_finished_at = v_counters.last_item_finished_at, updated_at = now()
      where batch_id = v_row.id and slot = 0;
      update app_public.batches set total_items = v_check.total_items
      where id = v_row.id and total_items <> v_check.total_items;
      insert into app_private.sweeper_repairs (repair, batch_id, details)
      values ('corrected_counters', v_row.id, jsonb_build_object(
        'found', jsonb_build_object('pending', v_counters.pending_items, 'processing', v_counters.processing_items,
          'succeeded', v_counters.succeeded_items, 'failed', v_counters.failed_items, 'cancelled', v_counters.cancelled_items),
        'actual', jsonb_build_object('pending', v_check.pending_items, 'processing', v_check.processing_items,
          'succeeded', v_check.succeeded_items, 'failed', v_check.failed_items, 'cancelled', v_check.cancelled_items),
        'status', app_private.settle_batch(v_row.id)));
      v_n := v_n + 1;
    elsif not v_check.status_agrees then
      insert into app_private.sweeper_repairs (repair, batch_id, details)
      values ('settled_batch', v_row.id, jsonb_build_object('found', v_check.status, 'status', app_private.settle_batch(v_row.id)));
      v_settled := v_settled + 1;
    end if;
  end loop;
  update app_private.batch_counter_slots set counters_checked_at = now()
  where batch_id = any(v_checked_finished) and slot = 0;
  if v_n > 0 then
    v_counts := v_counts || jsonb_build_object('corrected_counters', v_n);
  end if;
  if v_settled > 0 then
    v_counts := v_counts || jsonb_build_object('settled_batches', v_settled);
  end if;
  -- Items held by an id with no heartbeat row (a worker that died before its first beat, or whose
  -- job was failed before it died): only this count, which reads the items, finds them.
  if cardinality(v_rowless_holders) > 0 then
    v_n := app_private.release_dead_workers(p_stale_after, v_rowless_holders);
    if v_n > 0 then
      v_counts := v_counts || jsonb_build_object('dead_workers', coalesce((v_counts->>'dead_workers')::integer, 0) + v_n);
    end if;
  end if;

  -- 3. Finished batches with neither a summary nor a job to write one.
  with missing as (
    select b.id from app_public.batches b
    where b.finished_at is not null
      and not exists (select 1 from app_public.run_summaries s where s.batch_id = b.id)
      and not exists (select 1 from graphile_worker.jobs j
                      where j.key = 'aggregate_batch:' || b.id and j.attempts < j.max_attempts)
  ), enqueued as (
    select m.id, graphile_worker.add_job('aggregate_batch', json_build_object('batch_id', m.id),
      job_key => 'aggregate_batch:' || m.id, max_attempts => 10) as job
    from missing m
  ), logged as (
    insert into app_private.sweeper_repairs (repair, batch_id)
    select 'enqueued_summary', id from enqueued
    returning 1
  )
  select count(*) into v_n from logged;
  if v_n > 0 then
    v_counts := v_counts || jsonb_build_object('enqueued_summaries', v_n);
  end if;

  -- 4. Pending items without a job (a job deleted by hand, or failed for good on a database
  --    error): re-enqueued when their batch has made no progress for p_idle_after and no job of
  --    the batch is left that could still run them. First the records of jobs that are gone.
  delete from app_private.chunk_jobs c where not exists (select 1 from graphile_worker.jobs j where j.id = c.job_id);
  v_n := 0;
  for v_row in
    select b.id from app_public.batches b
    cross join lateral (select * from app_private.batch_counters c where c.batch_id = b.id) c
    where b.finished_at is null and c.sealed and c.pending_items > 0 and c.processing_items = 0
      and c.updated_at < now() - p_idle_after
      and not app_private.batch_has_runnable_job(b.id)
  loop
    perform app_private.enqueue_items(array[row(v_row.id, array_agg(id order by id))::app_private.batch_item_ids],
        greatest(run_after, now()))
      from app_public.batch_items where batch_id = v_row.id and status = 'pending'
      group by greatest(run_after, now());
    insert into app_private.sweeper_repairs (repair, batch_id, details)
    select 'enqueued_orphaned_items', v_row.id, jsonb_build_object('items', count(*))
    from app_public.batch_items where batch_id = v_row.id and status = 'pending';
    update app_private.batch_counter_slots set updated_at = now() where batch_id = v_row.id and slot = 0;
    v_n := v_n + 1;
  end loop;
  if v_n > 0 then
    v_counts := v_counts || jsonb_build_object('orphaned_batches', v_n);
  end if;
  return v_counts;
end
$$;
comment on function app_private.sweep_batches(interval, interval) is
  'Repairs what crashes leave, logging each repair in sweeper_repairs: items and jobs of dead workers, counters that drifted from the items (not of batches whose items were pruned: their counters are their record), batches whose status is not what their counters imply, finished batches without a summary, pending items of a batch none of whose jobs is left. Returns the counts of what it repaired.';

-- The scheduler's record: every crontab entry, when it last ran, when it runs next, and what its
-- last run started. Workers write it when they start and whenever a scheduled task runs.
create table app_private.scheduled_tasks (
  task_identifier text primary key,
  schedule text not null,
  period interval not null,
  registered_at timestamptz not null default now(),
  next_run_at timestamptz,
  last_run_at timestamptz,
  last_batch_ids uuid[] not null default '{}'
);
comment on table app_private.scheduled_tasks is
  'One row per crontab entry: written by workers when they start (schedule, period, next run) and each time the task runs.';
comment on column app_private.scheduled_tasks.task_identifier is 'The task a crontab entry runs.';
comment on column app_private.scheduled_tasks.schedule is 'Its five crontab fields (UTC), as the worker that registered it read them (REVIEW_SCORING_CRON overrides start_review_scoring''s).';
comment on column app_private.scheduled_tasks.period is 'The gap between two of its runs, from the next run to the one after it: a run is late after twice this.';
comment on column app_private.scheduled_tasks.registered_at is 'When a worker first registered the entry: a task that never ran is late twice its period after this.';
comment on column app_private.scheduled_tasks.next_run_at is 'When it runs next, as computed by a worker at start and each time the task runs.';
comment on column app_private.scheduled_tasks.last_run_at is 'When the task last ran (started); null until it has.';
comment on column app_private.scheduled_tasks.last_batch_ids is 'The batches its last run started, or found still running, one per tenant (scoring runs).';

create view app_public.scheduler_status with (security_invoker = true) as
select t.task_identifier, t.schedule, t.last_run_at, t.next_run_at,
  coalesce(t.last_run_at, t.registered_at) < now() - 2 * t.period as is_late,
  last.id as last_batch_id, last.status as last_batch_status
from app_private.scheduled_tasks t
left join lateral (
  select b.id, b.status from app_public.batches b
  where b.id = any(t.last_batch_ids) order by b.created_at desc limit 1
) last on true;
comment on view app_public.scheduler_status is E'@primaryKey task_identifier\n@behavior -insert -update -delete\nOne row per scheduled task (admins only): a scheduler that does not run shows up here as late.';
comment on column app_public.scheduler_status.task_identifier is 'The task the crontab runs.';
comment on column app_public.scheduler_status.schedule is 'Its crontab schedule (UTC).';
comment on column app_public.scheduler_status.last_run_at is 'When it last ran.';
comment on column app_public.scheduler_status.next_run_at is 'When it runs next.';
comment on column app_public.scheduler_status.is_late is 'True when it has not run for twice its period (counted from when it was first scheduled, if it never ran).';
comment on column app_public.scheduler_status.last_batch_id is 'The last batch its last run started (a tenant''s admin sees its own tenant''s only).';
comment on column app_public.scheduler_status.last_batch_status is 'That batch''s status.';
grant select on app_public.scheduler_status to app_admin;
grant select on app_private.scheduled_tasks to app_admin;

-- What the dashboard shows of the installation (the installation's operator only): the workers,
-- the queue by task and the sweeper's recent repairs. They live in app_private and graphile_worker,
-- so each view reads through a security definer function that checks the caller itself, and
-- answers no rows to anyone but the installation's operator.

-- Workers.

create function app_private.workers_seen_by_caller()
returns table (
  id text, hostname text, pid integer, concurrency integer, started_at timestamptz,
  last_seen_at timestamptz, is_alive boolean, processing_items bigint
)
language sql stable security definer set search_path to pg_catalog, pg_temp
-- Planned blind (a job's item list has no statistics), the count looks costly enough to compile
-- (JIT), which takes far longer than the few rows it reads.
set jit to off as $$
  select w.id, w.hostname, w.pid, w.concurrency, w.started_at, w.last_seen_at,
    app_private.worker_is_alive(w.id),
    -- The items of the chunks it runs, found from its jobs: no index leads to a worker's items.
    (select count(*) from graphile_worker._private_jobs j
     cross join lateral json_array_elements_text(j.payload->'item_ids') as c(item_id)
     join app_public.batch_items i on i.id = c.item_id::bigint
     where j.locked_by = w.id and i.locked_by = w.id)
  from app_private.workers w
  where app_public.current_user_sees_all_tenants()
$$;
comment on function app_private.workers_seen_by_caller() is
  'The worker heartbeats, for the installation''s operator only (no rows for anyone else): the body of the view app_public.workers.';
grant execute on function app_private.workers_seen_by_caller() to app_admin;

create view app_public.workers with (security_invoker = true) as
select * from app_private.workers_seen_by_caller();
comment on view app_public.workers is E'@primaryKey id\n@behavior -insert -update -delete -connection +list\nWorker processes with a heartbeat row, the living and those the sweeper has yet to remove (installation''s operator only: an admin token without tenant_id; no rows for anyone else).';
comment on column app_public.workers.id is 'The worker pool''s id (the `locked_by` of its jobs and items).';
comment on column app_public.workers.hostname is 'Where it runs.';
comment on column app_public.workers.pid is 'Its process id there.';
comment on column app_public.workers.concurrency is 'How many jobs it runs at once.';
comment on column app_public.workers.started_at is 'When it started.';
comment on column app_public.workers.last_seen_at is 'Its last heartbeat.';
comment on column app_public.workers.is_alive is 'Whether it runs: its liveness connection holds its lock, or its heartbeat is fresh (within finishline.worker_stale_after, 5 s by default). A worker that is not alive has stopped; the next heartbeat of another worker gives its items and jobs back and removes it.';
comment on column app_public.workers.processing_items is 'Batch items it is running now: those of the chunks it runs that it has not finished.';
grant select on app_public.workers to app_admin;

-- The queue by task.

create function app_private.task_queues_seen_by_caller()
returns table (
  task_identifier text, runnable_jobs bigint, oldest_runnable_at timestamptz,
  oldest_runnable_age_seconds numeric, running_jobs bigint, scheduled_jobs bigint, failed_jobs bigint
)
language sql stable security definer set search_path to pg_catalog, pg_temp as $$
  select j.task_identifier,
    count(*) filter (where j.run_at <= now() and j.locked_at is null and j.attempts < j.max_attempts),
    min(j.run_at) filter (where j.run_at <= now() and j.locked_at is null and j.attempts < j.max_attempts),
    round(extract(epoch from now() - min(j.run_at) filter (
      where j.run_at <= now() and j.locked_at is null and j.attempts < j.max_attempts)), 1),
    count(*) filter (where j.locked_at is not null),
    count(*) filter (where j.run_at > now() and j.locked_at is null and j.attempts < j.max_attempts),
    count(*) filter (where j.attempts >= j.max_attempts)
  from graphile_worker.jobs j
  where app_public.current_user_sees_all_tenants()
  group by j.task_identifier
$$;
comment on function app_private.task_queues_seen_by_caller() is
  'Graphile Worker''s jobs counted by task, for the installation''s operator only (no rows for anyone else): the body of the view app_public.task_queues.';
grant execute on function app_private.task_queues_seen_by_caller() to app_admin;

create view app_public.task_queues with (security_invoker = true) as
select * from app_private.task_queues_seen_by_caller();
comment on view app_public.task_queues is E'@primaryKey task_identifier\n@behavior -insert -update -delete -connection +list\nGraphile Worker''s queue, one row per task that has jobs (installation''s operator only: an admin token without tenant_id; no rows for anyone else). A batch''s items run as jobs of its kind''s task, a chunk of items a job.';
comment on column app_public.task_queues.task_identifier is 'The task.';
comment on column app_public.task_queues.runnable_jobs is 'Jobs that could run now and wait for a worker.';
comment on column app_public.task_queues.oldest_runnable_at is 'Since when the oldest of those could run.';
comment on column app_public.task_queues.oldest_runnable_age_seconds is 'How long the oldest of those has waited, in seconds: a figure that keeps growing means the workers do not keep up (or none runs).';
comment on column app_public.task_queues.running_jobs is 'Jobs a worker holds now.';
comment on column app_public.task_queues.scheduled_jobs is 'Jobs waiting for their time (a retry''s backoff, a debounce).';
comment on column app_public.task_queues.failed_jobs is 'Jobs that used all their attempts and stay in the queue for inspection.';
grant select on app_public.task_queues to app_admin;

-- The sweeper's repairs of the last day.

create function app_private.recent_sweeper_repairs_seen_by_caller()
returns setof app_private.sweeper_repairs
language sql stable security definer set search_path to pg_catalog, pg_temp as $$
  select r.* from app_private.sweeper_repairs r
  where r.repaired_at > now() - interval '1 day' and app_public.current_user_sees_all_tenants()
  order by r.repaired_at desc, r.id desc
$$;
comment on function app_private.recent_sweeper_repairs_seen_by_caller() is
  'The sweeper''s repairs of the last 24 hours, newest first, for the installation''s operator only (no rows for anyone else): the body of the view app_public.recent_sweeper_repairs.';
grant execute on function app_private.recent_sweeper_repairs_seen_by_caller() to app_admin;

create view app_public.recent_sweeper_repairs with (security_invoker = true) as
select * from app_private.recent_sweeper_repairs_seen_by_caller();
comment on view app_public.recent_sweeper_repairs is E'@primaryKey id\n@behavior -insert -update -delete -aggregates\nWhat the sweeper repaired in the last 24 hours (installation''s operator only: an admin token without tenant_id; no rows for anyone else). Each repair means a worker crashed or something was damaged.';
comment on column app_public.recent_sweeper_repairs.id is 'The repair''s id.';
comment on column app_public.recent_sweeper_repairs.repaired_at is 'When it was made.';
comment on column app_public.recent_sweeper_repairs.repair is '`released_items` (items of a dead worker back in the queue), `removed_dead_worker`, `returned_lost_jobs` (jobs locked for a live worker that never received them), `corrected_counters`, `settled_batch` (a batch''s status was not what its counters imply: a finalization had not run), `enqueued_summary` (a finished batch had no summary nor a job for one), `enqueued_orphaned_items` (pending items had no job).';
comment on column app_public.recent_sweeper_repairs.batch_id is 'The batch repaired, if any.';
comment on column app_public.recent_sweeper_repairs.worker_id is 'The dead worker concerned, if any.';
comment on column app_public.recent_sweeper_repairs.details is 'What was found and what was done.';
grant select on app_public.recent_sweeper_repairs to app_admin;

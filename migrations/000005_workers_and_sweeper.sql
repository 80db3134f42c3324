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
  'One row per running worker process, keyed by its Graphile Worker pool id (the `locked_by` of its jobs and items). A row whose last_seen_at is older than the heartbeat timeout belongs to a dead worker.';
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
    'released_items', 'removed_dead_worker', 'corrected_counters', 'enqueued_summary', 'enqueued_orphaned_items')),
  batch_id uuid,
  worker_id text,
  details jsonb not null default '{}'
);
create index sweeper_repairs_repaired_at_idx on app_private.sweeper_repairs (repaired_at);
comment on table app_private.sweeper_repairs is
  'Every repair the sweeper made. Each row means something crashed or was damaged; operators should look.';
comment on column app_private.sweeper_repairs.id is 'The repair''s id (increasing).';
comment on column app_private.sweeper_repairs.repaired_at is 'When the sweeper made it.';
comment on column app_private.sweeper_repairs.repair is
  '`released_items` (items of a dead worker back in the queue), `removed_dead_worker`, `corrected_counters`, `enqueued_summary` (a finished batch had no summary nor a job for one), `enqueued_orphaned_items` (pending items had no job).';
comment on column app_private.sweeper_repairs.batch_id is 'The batch repaired, if any (no foreign key: the log outlives batches).';
comment on column app_private.sweeper_repairs.worker_id is 'The dead worker concerned, if any.';
comment on column app_private.sweeper_repairs.details is 'What was found and what was done.';

create function app_private.worker_stale_after() returns interval
language sql stable parallel safe as $$
  select coalesce(nullif(current_setting('finishline.worker_stale_after', true), '')::interval, interval '30 seconds')
$$;
comment on function app_private.worker_stale_after() is
  'How long a worker may go without a heartbeat before it counts as dead: the setting finishline.worker_stale_after (e.g. `alter database ... set finishline.worker_stale_after = ''10s''`), 30 seconds by default. Workers beat six times within it.';

create function app_private.dead_worker_ids(p_stale_after interval default app_private.worker_stale_after()) returns text[]
language sql stable as $$
  select coalesce(array_agg(distinct id), '{}') from (
    select w.id from app_private.workers w where w.last_seen_at < now() - p_stale_after
    union
    -- Items held by a worker that has no fresh heartbeat at all (never registered, or removed).
    select i.locked_by from app_public.batch_items i
    where i.status = 'processing' and i.started_at < now() - p_stale_after
      and not exists (select 1 from app_private.workers w
                      where w.id = i.locked_by and w.last_seen_at >= now() - p_stale_after)
  ) dead
$$;
comment on function app_private.dead_worker_ids(interval) is
  'Workers whose heartbeat is older than p_stale_after, and unknown holders of processing items.';

create function app_private.record_worker_heartbeat(
  p_worker_id text, p_hostname text, p_pid integer, p_concurrency integer
) returns boolean
language plpgsql volatile as $$
begin
  insert into app_private.workers as w (id, hostname, pid, concurrency)
  values (p_worker_id, p_hostname, p_pid, p_concurrency)
  on conflict (id) do update set last_seen_at = now();
  -- A peer that stopped beating is repaired now, not at the next crontab minute.
  if cardinality(app_private.dead_worker_ids()) > 0 then
    perform graphile_worker.add_job('sweep_batches', '{}', queue_name => 'finishline_sweeper',
      job_key => 'sweep_batches', job_key_mode => 'preserve_run_at');
    return true;
  end if;
  return false;
end
$$;
comment on function app_private.record_worker_heartbeat(text, text, integer, integer) is
  'Records that a worker is alive; if another worker looks dead, enqueues sweep_batches at once. Returns whether it did.';

create function app_private.forget_worker(p_worker_id text) returns integer
language plpgsql volatile as $$
declare
  v_released integer;
begin
  v_released := app_private.release_items(p_worker_id, null, null, false);
  delete from app_private.workers where id = p_worker_id;
  return v_released;
end
$$;
comment on function app_private.forget_worker(text) is
  'Called by a worker as it shuts down cleanly: gives back any item it still holds (without spending an attempt) and removes its heartbeat.';

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

create function app_private.sweep_batches(
  p_stale_after interval default app_private.worker_stale_after(),
  p_idle_after interval default '5 minutes'
) returns jsonb
language plpgsql volatile as $$
declare
  v_dead text[] := app_private.dead_worker_ids(p_stale_after);
  v_counts jsonb := '{}';
  v_row record;
  v_counters app_private.batch_counters;
  v_actual record;
  v_n integer;
begin
  -- 1. Dead workers: their items go back to the queue, their jobs are unlocked at once
  --    (Graphile Worker alone would wait four hours), their heartbeat rows go.
  if cardinality(v_dead) > 0 then
    for v_row in
      select i.locked_by, i.batch_id, count(*) as n from app_public.batch_items i
      where i.status = 'processing' and i.locked_by = any(v_dead)
      group by i.locked_by, i.batch_id
    loop
      insert into app_private.sweeper_repairs (repair, batch_id, worker_id, details)
      values ('released_items', v_row.batch_id, v_row.locked_by, jsonb_build_object('items', v_row.n));
    end loop;
    v_n := 0;
    for v_row in select unnest(v_dead) as worker_id loop
      v_n := v_n + app_private.release_items(v_row.worker_id, null,
        'the worker running this item stopped (no heartbeat for ' || p_stale_after || ')', true);
    end loop;
    perform graphile_worker.force_unlock_workers(v_dead);
    insert into app_private.sweeper_repairs (repair, worker_id, details)
    select 'removed_dead_worker', d.id, jsonb_build_object('last_seen_at', w.last_seen_at, 'hostname', w.hostname, 'pid', w.pid)
    from unnest(v_dead) as d(id) left join app_private.workers w on w.id = d.id;
    delete from app_private.workers where id = any(v_dead);
    v_counts := v_counts || jsonb_build_object('dead_workers', cardinality(v_dead), 'released_items', v_n);
  end if;

  -- 2. Counters against the items, for unfinished batches and those finished within the hour.
  --    Holding the counters' row lock while counting keeps the two consistent: a transaction
  --    that changed items but not yet the counters is uncommitted, so its items are not counted.
  v_n := 0;
  for v_row in
    select b.id from app_public.batches b where b.finished_at is null
    union
    select b.id from app_public.batches b where b.finished_at > now() - interval '1 hour'
  loop
    select * into v_counters from app_private.batch_counters
      where batch_id = v_row.id for update skip locked;
    continue when not found;
    select
      count(*) filter (where status = 'pending') as pending_items,
      count(*) filter (where status = 'processing') as processing_items,
      count(*) filter (where status = 'succeeded') as succeeded_items,
      count(*) filter (where status = 'failed') as failed_items,
      count(*) filter (where status = 'cancelled') as cancelled_items,
      count(*) as total_items
    into v_actual
    from app_public.batch_items where batch_id = v_row.id;
    if (v_counters.pending_items, v_counters.processing_items, v_counters.succeeded_items,
        v_counters.failed_items, v_counters.cancelled_items)
       is distinct from
       (v_actual.pending_items::integer, v_actual.processing_items::integer, v_actual.succeeded_items::integer,
        v_actual.failed_items::integer, v_actual.cancelled_items::integer)
    then
      update app_private.batch_counters set
        pending_items = v_actual.pending_items, processing_items = v_actual.processing_items,
        succeeded_items = v_actual.succeeded_items, failed_items = v_actual.failed_items,
        cancelled_items = v_actual.cancelled_items, updated_at = now()
      where batch_id = v_row.id;
      update app_public.batches set total_items = v_actual.total_items
      where id = v_row.id and total_items <> v_actual.total_items;
      insert into app_private.sweeper_repairs (repair, batch_id, details)
      values ('corrected_counters', v_row.id, jsonb_build_object(
        'found', jsonb_build_object('pending', v_counters.pending_items, 'processing', v_counters.processing_items,
          'succeeded', v_counters.succeeded_items, 'failed', v_counters.failed_items, 'cancelled', v_counters.cancelled_items),
        'actual', jsonb_build_object('pending', v_actual.pending_items, 'processing', v_actual.processing_items,
          'succeeded', v_actual.succeeded_items, 'failed', v_actual.failed_items, 'cancelled', v_actual.cancelled_items),
        'status', app_private.settle_batch(v_row.id)));
      v_n := v_n + 1;
    end if;
  end loop;
  if v_n > 0 then
    v_counts := v_counts || jsonb_build_object('corrected_counters', v_n);
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
    join app_private.batch_counters c on c.batch_id = b.id
    where b.finished_at is null and c.sealed and c.pending_items > 0 and c.processing_items = 0
      and c.updated_at < now() - p_idle_after
      and not app_private.batch_has_runnable_job(b.id)
  loop
    perform app_private.enqueue_items(array_agg(batch_id), array_agg(id), greatest(run_after, now()))
      from app_public.batch_items where batch_id = v_row.id and status = 'pending'
      group by greatest(run_after, now());
    insert into app_private.sweeper_repairs (repair, batch_id, details)
    select 'enqueued_orphaned_items', v_row.id, jsonb_build_object('items', count(*))
    from app_public.batch_items where batch_id = v_row.id and status = 'pending';
    update app_private.batch_counters set updated_at = now() where batch_id = v_row.id;
    v_n := v_n + 1;
  end loop;
  if v_n > 0 then
    v_counts := v_counts || jsonb_build_object('orphaned_batches', v_n);
  end if;
  return v_counts;
end
$$;
comment on function app_private.sweep_batches(interval, interval) is
  'Repairs what crashes leave, logging each repair in sweeper_repairs: items and jobs of dead workers, counters that drifted from the items, finished batches without a summary, pending items of a batch none of whose jobs is left. Returns the counts of what it repaired.';

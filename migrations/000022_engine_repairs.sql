-- Up Migration
-- Three repairs of the batch engine, one section each.
--
-- 1. The sweeper re-enqueued a batch's orphaned pending items only when no runnable job of the
--    batch's task existed at all, so any other batch's job of that task (another tenant's queue,
--    a job left by a cancelled batch) kept the batch stuck. The question is whether a job of THIS
--    batch is left. graphile_worker.jobs shows no payload, so chunk jobs are now recorded with
--    their batch when they are enqueued (app_private.chunk_jobs). stuck_reason asks the same.
-- 2. Tenants (and admins) could update batch_items directly: mark items processing for a worker
--    that does not exist (the sweeper never released them), succeeded, or reset their attempts.
--    The grant existed only for cancel_batch and retry_failed_items, which now run as the owner.
--    Security definer functions skip row level security, so the ones that take a batch id from a
--    client (those two, enqueue_batch_summary, batch_stuck_reason) now check themselves that the
--    caller may see the batch.
-- 3. Columns (and node-pg-migrate's table) without a COMMENT ON.

-- 1. Orphaned items: a job of this batch, not of its task.

create table app_private.chunk_jobs (
  batch_id uuid not null,
  job_id bigint not null,
  primary key (batch_id, job_id)
);
comment on table app_private.chunk_jobs is
  'Which batch each chunk job was enqueued for (graphile_worker.jobs does not show payloads): the sweeper and stuck_reason look here for a job that can still run a batch''s pending items. Rows whose job is gone are deleted by the sweeper.';
comment on column app_private.chunk_jobs.batch_id is 'The batch whose items the job runs (no foreign key: the row goes with its job, not its batch).';
comment on column app_private.chunk_jobs.job_id is 'The job''s id in graphile_worker.jobs.';

-- Jobs enqueued before this migration. Only graphile_worker's own table holds their payload;
-- this one read at upgrade keeps their batches from looking orphaned.
insert into app_private.chunk_jobs (batch_id, job_id)
select (j.payload->>'batch_id')::uuid, j.id
from graphile_worker._private_jobs j
join graphile_worker._private_tasks t on t.id = j.task_id
where t.identifier in (select k.task_identifier from app_public.batch_kinds k)
  and j.payload->>'batch_id' is not null;

create or replace function app_private.enqueue_items(p_batch_ids uuid[], p_item_ids bigint[], p_run_at timestamptz default null)
returns integer
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
declare
  v_jobs integer;
begin
  with job as (
    select * from graphile_worker.add_jobs(array(
      select row(k.task_identifier, json_build_object('batch_id', c.batch_id, 'item_ids', c.item_ids),
                 null, p_run_at, null, null, null, null)::graphile_worker.job_spec
      from (
        select u.batch_id, b.kind, array_agg(u.item_id order by u.item_id) as item_ids
        from (select t.batch_id, t.item_id, row_number() over (partition by t.batch_id order by t.item_id) - 1 as position
              from unnest(p_batch_ids, p_item_ids) as t(batch_id, item_id)) u
        join app_public.batches b on b.id = u.batch_id
        join app_public.batch_kinds k on k.kind = b.kind
        group by u.batch_id, b.kind, u.position / k.chunk_size
      ) c
      join app_public.batch_kinds k on k.kind = c.kind
    ))
  ), recorded as (
    insert into app_private.chunk_jobs (batch_id, job_id)
    select (job.payload->>'batch_id')::uuid, job.id from job
    returning 1
  )
  select count(*) into v_jobs from recorded;
  return v_jobs;
end
$$;
comment on function app_private.enqueue_items(uuid[], bigint[], timestamptz) is
  'Enqueues jobs for the given items (parallel arrays of batch and item ids): one job per chunk of the kind''s chunk_size, run by the kind''s task, not before p_run_at, each recorded in chunk_jobs. Returns the number of jobs.';

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

create or replace function app_private.sweep_batches(
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

-- 2. Items change only through the engine and the API functions.

revoke update (status, attempts, run_after, locked_by, finished_at) on app_public.batch_items from app_user, app_admin;
drop policy update_own on app_public.batch_items;

create or replace function app_private.find_batch(p_batch_id uuid) returns app_public.batches
language plpgsql stable as $$
declare
  v_batch app_public.batches;
begin
  -- Another tenant's batch is "not found": row level security says so when the caller runs as
  -- itself, caller_may_see when it runs in a security definer function (cancel_batch).
  select * into v_batch from app_public.batches b where b.id = p_batch_id and app_private.caller_may_see(b.tenant_id);
  if v_batch.id is null then
    raise exception 'batch % not found', p_batch_id using errcode = 'FLNFD';
  end if;
  return v_batch;
end
$$;

-- Same bodies as before; they run as the owner now, because the caller may not update items.
create or replace function app_public.cancel_batch(batch_id uuid) returns app_public.batches
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
#variable_conflict use_column
declare
  v_batch app_public.batches := app_private.find_batch(cancel_batch.batch_id);
begin
  update app_public.batch_items i set status = 'cancelled', finished_at = now(), locked_by = null
  where i.batch_id = v_batch.id and i.status in ('pending', 'processing');
  return app_private.find_batch(v_batch.id);
end
$$;

create or replace function app_public.retry_failed_items(batch_id uuid) returns app_public.batches
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
#variable_conflict use_column
declare
  v_batch app_public.batches := app_private.find_batch(retry_failed_items.batch_id);
begin
  update app_public.batch_items i set status = 'pending', attempts = 0, run_after = null, finished_at = null
  where i.batch_id = v_batch.id and i.status = 'failed';
  return app_private.find_batch(v_batch.id);
end
$$;

create or replace function app_private.enqueue_batch_summary(p_batch_id uuid) returns void
language sql volatile security definer set search_path to pg_catalog, pg_temp as $$
  select graphile_worker.add_job('aggregate_batch', json_build_object('batch_id', b.id),
    job_key => 'aggregate_batch:' || b.id, job_key_mode => 'unsafe_dedupe', max_attempts => 10)
  from app_public.batches b where b.id = p_batch_id and app_private.caller_may_see(b.tenant_id);
$$;
comment on function app_private.enqueue_batch_summary(uuid) is
  'Enqueues aggregate_batch for a batch the caller may see, unless a job for it is already waiting.';

create or replace function app_private.batch_stuck_reason(
  p_batch_id uuid, p_pending_items integer, p_processing_items integer, p_updated_at timestamptz
) returns text
language plpgsql stable security definer
set search_path to pg_catalog, pg_temp
set plan_cache_mode to force_generic_plan
as $$
begin
  return (
    select case
      when not exists (select 1 from app_public.batches b where b.id = p_batch_id and app_private.caller_may_see(b.tenant_id))
        then null
      when not exists (select 1 from app_private.workers w
                       where w.last_seen_at >= now() - app_private.worker_stale_after())
        then 'no_worker_alive'
      when p_processing_items > 0 and exists (
        select 1 from app_public.batch_items i
        where i.status = 'processing' and i.batch_id = p_batch_id
          and not exists (select 1 from app_private.workers w
                          where w.id = i.locked_by and w.last_seen_at >= now() - app_private.worker_stale_after()))
        then 'items_held_by_dead_worker'
      when p_pending_items > 0 and p_processing_items = 0 and not exists (
        select 1 from app_public.batch_items i where i.batch_id = p_batch_id and i.status = 'pending')
        then 'counters_out_of_date'
      when p_pending_items > 0 and p_processing_items = 0 and not exists (
        select 1 from app_public.batch_items i
        where i.batch_id = p_batch_id and i.status = 'pending' and (i.run_after is null or i.run_after <= now()))
        then 'waiting_for_retry_backoff'
      when p_pending_items > 0 and p_processing_items = 0 and p_updated_at < now() - interval '5 minutes'
        and not app_private.batch_has_runnable_job(p_batch_id)
        then 'items_without_job'
    end
  );
end
$$;
comment on function app_private.batch_stuck_reason(uuid, integer, integer, timestamptz) is
  'Why an unfinished batch is not moving, or null (also for a batch the caller may not see). See batch_status_summary.stuck_reason.';

-- 3. Comments that were missing.

comment on column app_private.batch_counters.batch_id is 'The batch counted.';
comment on column app_private.batch_counters.pending_items is 'Its items waiting to run (including those waiting out a retry''s backoff).';
comment on column app_private.batch_counters.processing_items is 'Its items held by a worker now.';
comment on column app_private.batch_counters.succeeded_items is 'Its items that succeeded.';
comment on column app_private.batch_counters.failed_items is 'Its items that failed after their last attempt (or for good).';
comment on column app_private.batch_counters.cancelled_items is 'Its items cancelled.';

comment on column app_private.catalog_file_chunks.file_id is 'The catalog file the piece belongs to.';
comment on column app_private.catalog_file_chunks.seq is 'The piece''s place in the file, from 0; the importer reads them in this order.';
comment on column app_private.catalog_file_chunks.bytes is 'The piece''s bytes, 1 MB (1,048,576 bytes) except the last.';

comment on column app_private.model_files.model_version_id is 'The model version these bytes are.';
comment on column app_private.model_files.onnx is 'The model as an ONNX file.';

comment on column app_private.scheduled_tasks.task_identifier is 'The task a crontab entry runs.';
comment on column app_private.scheduled_tasks.schedule is 'Its five crontab fields (UTC), as the worker that registered it read them (REVIEW_SCORING_CRON overrides start_review_scoring''s).';
comment on column app_private.scheduled_tasks.period is 'The gap between two of its runs, from the next run to the one after it: a run is late after twice this.';
comment on column app_private.scheduled_tasks.next_run_at is 'When it runs next, as computed by a worker at start and by the task when it runs.';
comment on column app_private.scheduled_tasks.last_run_at is 'When the task last ran; null until it has.';
comment on column app_private.scheduled_tasks.last_batch_ids is 'The batches its last run started, or found still running, one per tenant.';

comment on column app_private.review_text_counts.tenant_id is 'The tenant whose reviews are counted.';
comment on column app_private.review_text_counts.body_key is 'The text''s key (review_body_key: md5 of the trimmed, lower-cased body).';
comment on column app_private.review_text_counts.copies is 'How many of the tenant''s reviews have this text (0 once none has: rows are not deleted).';

comment on column app_private.review_author_counts.tenant_id is 'The tenant whose reviews are counted.';
comment on column app_private.review_author_counts.author is 'The author, as in reviews.author.';
comment on column app_private.review_author_counts.reviews is 'How many reviews of the tenant the author wrote (0 once none is left: rows are not deleted).';

comment on column app_private.product_review_stats.product_id is 'The product reviewed (no foreign key: kept by the reviews'' triggers).';
comment on column app_private.product_review_stats.reviews is 'How many reviews it has.';
comment on column app_private.product_review_stats.rating_sum is 'The sum of their ratings.';

comment on column app_private.sweeper_repairs.id is 'The repair''s id (increasing).';
comment on column app_private.sweeper_repairs.repaired_at is 'When the sweeper made it.';

comment on table app_private.migrations is 'The migrations applied from migrations/, one row each: written by node-pg-migrate, which applies only those it finds no row for.';
comment on column app_private.migrations.id is 'Its row id, in the order they were applied.';
comment on column app_private.migrations.name is 'The migration''s file name without `.sql`.';
comment on column app_private.migrations.run_on is 'When it was applied.';

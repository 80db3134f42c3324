-- Up Migration
-- The one place clients read a batch's state from.

-- The view runs as its caller (security_invoker), so the caller reads the counters: only those
-- of batches it can see.
alter table app_private.batch_counter_slots enable row level security;
create policy select_visible_batch on app_private.batch_counter_slots for select
  using (exists (select 1 from app_public.batches b where b.id = batch_id));
grant select on app_private.batch_counter_slots, app_private.batch_counters to app_anonymous, app_user, app_admin;

-- Planned for the batch at hand (see write_run_summary): a queued batch's status is read again
-- and again, and a plan costed for the table's average batch reads the whole table to find a
-- small batch's items while a few large batches fill it. PL/pgSQL, whose statements go through
-- the plan cache that plan_cache_mode steers (before PostgreSQL 18 a SQL function's do not).
create function app_private.batch_has_pending_item(p_batch_id uuid, p_due_only boolean) returns boolean
language plpgsql stable set plan_cache_mode to force_custom_plan as $$
begin
  return exists (
    select 1 from app_public.batch_items i
    where i.batch_id = p_batch_id and i.status = 'pending'
      and (not p_due_only or i.run_after is null or i.run_after <= now()));
end
$$;
comment on function app_private.batch_has_pending_item(uuid, boolean) is
  'Whether the batch has a pending item (with p_due_only, one whose retry time has come).';

-- PL/pgSQL with a generic plan: it runs for every status read, and before PostgreSQL 18 a
-- security definer SQL function is parsed and planned again on every call, a large part of the
-- read. Security definer, because it reads worker heartbeats and jobs, which clients may not; so
-- it asks caller_may_see itself (row level security does not apply inside it).
create function app_private.batch_stuck_reason(
  p_batch_id uuid, p_pending_items integer, p_processing_items integer, p_updated_at timestamptz, p_finished_at timestamptz
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
      -- A finished batch whose summary is not written (the view asks only then).
      when p_finished_at is not null and exists (
        select 1 from graphile_worker.jobs j
        where j.key = 'aggregate_batch:' || p_batch_id and j.locked_by is not null and not app_private.worker_is_alive(j.locked_by))
        then 'summary_held_by_dead_worker'
      when p_finished_at is not null and not exists (
        select 1 from graphile_worker.jobs j where j.key = 'aggregate_batch:' || p_batch_id and j.attempts < j.max_attempts)
        then 'summary_not_enqueued'
      when p_finished_at is not null
        then null
      when not exists (select 1 from app_private.workers w where app_private.worker_is_alive(w.id))
        then 'no_worker_alive'
      -- The batch's items are read only when a heartbeat row shows a dead worker: no index leads
      -- to the items a worker holds (see batch_items).
      when p_processing_items > 0 and exists (
        select 1 from app_private.workers w
        where not app_private.worker_is_alive(w.id)
          and exists (select 1 from app_public.batch_items i where i.batch_id = p_batch_id and i.locked_by = w.id))
        then 'items_held_by_dead_worker'
      when p_pending_items > 0 and p_processing_items = 0 and exists (
        select 1 from app_private.chunk_jobs c join graphile_worker.jobs j on j.id = c.job_id
        where c.batch_id = p_batch_id and j.locked_by is not null and not app_private.worker_is_alive(j.locked_by))
        then 'jobs_held_by_dead_worker'
      when p_pending_items > 0 and p_processing_items = 0 and not app_private.batch_has_pending_item(p_batch_id, false)
        then 'counters_out_of_date'
      when p_pending_items > 0 and p_processing_items = 0 and not app_private.batch_has_pending_item(p_batch_id, true)
        then 'waiting_for_retry_backoff'
      when p_pending_items > 0 and p_processing_items = 0 and exists (
        select 1 from app_public.batches b join app_public.tenants t on t.id = b.tenant_id
        where b.id = p_batch_id and t.max_running_chunks is not null
          and (select count(*) from graphile_worker._private_job_queues q
               where q.queue_name like 'finishline_tenant:' || t.id || ':%' and q.locked_at is not null) >= t.max_running_chunks)
        then 'waiting_for_tenant_limit'
      when p_pending_items > 0 and p_processing_items = 0 and p_updated_at < now() - interval '5 minutes'
        and not app_private.batch_has_runnable_job(p_batch_id)
        then 'items_without_job'
    end
  );
end
$$;
comment on function app_private.batch_stuck_reason(uuid, integer, integer, timestamptz, timestamptz) is
  'Why a batch is not moving, or its summary not coming, or null (also for a batch the caller may not see). See batch_status_summary.stuck_reason.';
grant execute on function app_private.batch_stuck_reason(uuid, integer, integer, timestamptz, timestamptz) to app_anonymous, app_user, app_admin;

create view app_public.batch_status_summary with (security_invoker = true) as
select
  b.id as batch_id,
  b.tenant_id,
  b.kind,
  b.status,
  b.total_items,
  c.pending_items,
  c.processing_items,
  c.succeeded_items,
  c.failed_items,
  c.cancelled_items,
  case
    when b.total_items = 0 then case when b.finished_at is null then 0 else 1 end
    else round((c.succeeded_items + c.failed_items + c.cancelled_items)::numeric / b.total_items, 4)
  end as progress,
  b.created_at,
  b.started_at,
  b.finished_at,
  c.last_item_finished_at,
  exists (select 1 from app_public.run_summaries s where s.batch_id = b.id) as has_summary,
  case when b.finished_at is null or not exists (select 1 from app_public.run_summaries s where s.batch_id = b.id) then
    app_private.batch_stuck_reason(b.id, c.pending_items, c.processing_items, c.updated_at, b.finished_at)
  end as stuck_reason,
  b.items_pruned_at
from app_public.batches b
-- Each batch's counter slots are summed alone (OFFSET 0 keeps the planner from summing every
-- batch's to join them), however many batches a page lists.
cross join lateral (select * from app_private.batch_counters c where c.batch_id = b.id offset 0) c;

comment on view app_public.batch_status_summary is E'@primaryKey batch_id\n@behavior -insert -update -delete\n@foreignKey (batch_id) references app_public.batches (id)|@fieldName batch|@foreignFieldName statusSummary\n@foreignKey (tenant_id) references app_public.tenants (id)|@fieldName tenant\nOne row per batch: where it stands, read from counters kept by the database.';
comment on column app_public.batch_status_summary.batch_id is 'The batch.';
comment on column app_public.batch_status_summary.tenant_id is 'The tenant that owns it.';
comment on column app_public.batch_status_summary.kind is 'Its kind.';
comment on column app_public.batch_status_summary.status is 'Its status (see batches.status).';
comment on column app_public.batch_status_summary.total_items is 'Items in the batch.';
comment on column app_public.batch_status_summary.pending_items is 'Items waiting to run (including those waiting out a retry''s backoff).';
comment on column app_public.batch_status_summary.processing_items is 'Items running now.';
comment on column app_public.batch_status_summary.succeeded_items is 'Items that succeeded.';
comment on column app_public.batch_status_summary.failed_items is 'Items that failed after their last attempt.';
comment on column app_public.batch_status_summary.cancelled_items is 'Items cancelled.';
comment on column app_public.batch_status_summary.progress is 'Share of items in a terminal state, from 0 to 1 (1 for a finished empty batch).';
comment on column app_public.batch_status_summary.created_at is 'When the batch was submitted.';
comment on column app_public.batch_status_summary.started_at is 'When its first item started.';
comment on column app_public.batch_status_summary.finished_at is 'When it finished.';
comment on column app_public.batch_status_summary.last_item_finished_at is 'When an item last reached a terminal state.';
comment on column app_public.batch_status_summary.has_summary is 'Whether its run summary has been written.';
comment on column app_public.batch_status_summary.stuck_reason is
  'Null when all is well (or the batch is finished and summarised). Otherwise why it is not moving: `no_worker_alive` (no worker runs), `items_held_by_dead_worker` and `jobs_held_by_dead_worker` (a worker died holding them; the next heartbeat of a live worker gives them back), `counters_out_of_date` (the counters say items are pending but none is; the sweeper will correct them), `waiting_for_retry_backoff` (every pending item waits for its retry time), `waiting_for_tenant_limit` (its tenant runs as many chunks as its max_running_chunks allows, in other batches), `items_without_job` (pending items lost their jobs; the sweeper will enqueue them again); or, for a finished batch, why its summary is not written yet: `summary_held_by_dead_worker` (its job is locked by a worker that died; it is unlocked like that worker''s other jobs), `summary_not_enqueued` (no job will write it; the sweeper enqueues one, and request_batch_summary does at once).';
comment on column app_public.batch_status_summary.items_pruned_at is
  'When its items were removed, past the items'' retention; null while they are kept. Its counts, status, times and run summary stay.';
grant select on app_public.batch_status_summary to app_anonymous, app_user, app_admin;

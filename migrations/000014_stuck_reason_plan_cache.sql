-- Up Migration
-- batch_status_summary is read on every status request. Its stuck_reason function was a security
-- definer SQL function, which PostgreSQL before 18 parses and plans again on every call (0.3-0.4
-- ms of a ~1 ms read, measured with pgbench on 10,000 batches). As PL/pgSQL with a generic plan
-- it is planned once per connection; same body, same answers.
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
        and not exists (select 1 from graphile_worker.jobs j
                        join app_public.batches b on b.id = p_batch_id
                        join app_public.batch_kinds k on k.kind = b.kind
                        where j.task_identifier = k.task_identifier and j.attempts < j.max_attempts)
        then 'items_without_job'
    end
  );
end
$$;

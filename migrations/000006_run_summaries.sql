-- Up Migration
-- Run summaries: what a finished batch did, written once by aggregate_batch.

create table app_public.run_summaries (
  batch_id uuid primary key,
  tenant_id uuid not null,
  kind text not null,
  status text not null check (status in ('completed', 'completed_with_errors', 'cancelled')),
  total_items integer not null,
  succeeded_items integer not null,
  failed_items integer not null,
  cancelled_items integer not null,
  duration_seconds numeric not null check (duration_seconds >= 0),
  errors jsonb not null default '[]' check (jsonb_typeof(errors) = 'array'),
  stats jsonb not null default '{}' check (jsonb_typeof(stats) = 'object'),
  created_at timestamptz not null default now(),
  foreign key (batch_id, tenant_id) references app_public.batches (id, tenant_id) on delete cascade
) with (vacuum_truncate = false);
create index run_summaries_tenant_id_idx on app_public.run_summaries (tenant_id);
comment on table app_public.run_summaries is E'@behavior -insert -update -delete\nWhat a finished batch did: one row per finished batch, written by the aggregate_batch task.';
comment on constraint run_summaries_batch_id_tenant_id_fkey on app_public.run_summaries is E'@isIndexed\n@fieldName batch\n@foreignFieldName runSummary\n@foreignSingleFieldName runSummary';
comment on column app_public.run_summaries.batch_id is 'The batch summarised.';
comment on column app_public.run_summaries.tenant_id is 'The tenant that owns the batch.';
comment on column app_public.run_summaries.kind is 'The batch''s kind.';
comment on column app_public.run_summaries.status is 'The batch''s terminal status.';
comment on column app_public.run_summaries.total_items is 'Items in the batch.';
comment on column app_public.run_summaries.succeeded_items is 'Items that succeeded.';
comment on column app_public.run_summaries.failed_items is 'Items that failed after their last attempt.';
comment on column app_public.run_summaries.cancelled_items is 'Items cancelled before they finished.';
comment on column app_public.run_summaries.duration_seconds is 'From the first item''s start (or the submission, if none started) to the last item''s end.';
comment on column app_public.run_summaries.errors is 'Distinct error messages of failed items with their counts, most frequent first (at most 100): `[{"message", "count"}]`.';
comment on column app_public.run_summaries.stats is 'Kind-specific totals: each numeric field of the items'' results summed (one level of nested objects too, e.g. rejections by reason); array fields concatenated, the first 100 elements (e.g. rejected rows with file, line and reason).';
comment on column app_public.run_summaries.created_at is 'When the summary was written.';

-- Planned for the batch at hand, its items named by p_batch_id: PostgreSQL then reads a small
-- batch's items by index, and a batch that fills most of the table in one scan. A plan made for
-- any batch (or items named through the batch's row) is costed for the table's average batch:
-- while a few large batches fill the table, a full scan per subquery for a small one.
create function app_private.write_run_summary(p_batch_id uuid) returns boolean
language plpgsql volatile set plan_cache_mode to force_custom_plan as $$
begin
  insert into app_public.run_summaries as s (
    batch_id, tenant_id, kind, status, total_items, succeeded_items, failed_items, cancelled_items,
    duration_seconds, errors, stats)
  select b.id, b.tenant_id, b.kind, b.status, counts.total, counts.succeeded, counts.failed, counts.cancelled,
    extract(epoch from b.finished_at - coalesce(b.started_at, b.created_at))::numeric(12, 3),
    coalesce(errors.list, '[]'), coalesce(stats.totals, '{}')
  from app_public.batches b
  cross join lateral (
    select count(*) as total,
      count(*) filter (where i.status = 'succeeded') as succeeded,
      count(*) filter (where i.status = 'failed') as failed,
      count(*) filter (where i.status = 'cancelled') as cancelled
    from app_public.batch_items i where i.batch_id = p_batch_id
  ) counts
  cross join lateral (
    select jsonb_agg(jsonb_build_object('message', e.message, 'count', e.n) order by e.n desc, e.message) as list
    from (select coalesce(i.last_error, '(no message)') as message, count(*) as n
          from app_public.batch_items i where i.batch_id = p_batch_id and i.status = 'failed'
          group by 1 order by 2 desc, 1 limit 100) e
  ) errors
  cross join lateral (
    -- Top-level numbers are summed; objects of numbers are summed key by key.
    select jsonb_object_agg(t.key, t.total) as totals from (
      select f.key, to_jsonb(sum(f.value::text::numeric)) as total
      from app_public.batch_items i, jsonb_each(i.result) f
      where i.batch_id = p_batch_id and jsonb_typeof(i.result) = 'object' and jsonb_typeof(f.value) = 'number'
      group by f.key
      union all
      select n.key, jsonb_object_agg(n.sub_key, n.total) from (
        select f.key, g.key as sub_key, sum(g.value::text::numeric) as total
        from app_public.batch_items i, jsonb_each(i.result) f, jsonb_each(f.value) g
        where i.batch_id = p_batch_id and jsonb_typeof(i.result) = 'object' and jsonb_typeof(f.value) = 'object'
          and jsonb_typeof(g.value) = 'number'
        group by f.key, g.key
      ) n group by n.key
      union all
      -- Arrays (e.g. rejected rows with file, line and reason) are concatenated, 100 at most.
      select a.key, jsonb_agg(a.element order by a.item_id, a.position) from (
        select f.key, e.element, i.id as item_id, e.position,
          row_number() over (partition by f.key order by i.id, e.position) as n
        from app_public.batch_items i, jsonb_each(i.result) f, jsonb_array_elements(f.value) with ordinality as e(element, position)
        where i.batch_id = p_batch_id and jsonb_typeof(i.result) = 'object' and jsonb_typeof(f.value) = 'array'
      ) a where a.n <= 100 group by a.key
    ) t
  ) stats
  -- Once its items are pruned, a batch's summary is all that is left of them: never rewritten.
  where b.id = p_batch_id and b.finished_at is not null and b.items_pruned_at is null
  on conflict (batch_id) do update set
    status = excluded.status, total_items = excluded.total_items, succeeded_items = excluded.succeeded_items,
    failed_items = excluded.failed_items, cancelled_items = excluded.cancelled_items,
    duration_seconds = excluded.duration_seconds, errors = excluded.errors, stats = excluded.stats,
    created_at = now();
  return found;
end
$$;
comment on function app_private.write_run_summary(uuid) is
  'Writes (or rewrites) the run summary of a finished batch from its items; returns false, writing nothing, when the batch is not finished or its items were pruned (its summary stays as it was).';

alter table app_public.run_summaries enable row level security;
create policy select_own on app_public.run_summaries for select
  using (app_private.caller_may_see(tenant_id));
grant select on app_public.run_summaries to app_anonymous, app_user, app_admin;

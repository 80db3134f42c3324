-- Up Migration
-- Data lifecycle: finished work is kept as long as the retention settings say, then removed a
-- bounded number of rows per transaction, so that workers and writers never wait on it. The
-- space goes back to the tables' free space maps (the prune task vacuums what it pruned) and new
-- rows reuse it: plain deletes, not partitions, since batches finish in any order and a batch's
-- items are read together, so no time range of items could be dropped whole.
--
-- The tables pruned here are created `with (vacuum_truncate = false)`: a vacuum that gives a
-- table's empty end back to the operating system holds an ACCESS EXCLUSIVE lock on it meanwhile,
-- which the workers' writes would queue behind, for space that the next day's rows take again.

create table app_private.retention_settings (
  singleton boolean primary key default true check (singleton),
  item_retention interval not null default '30 days' check (item_retention >= interval '0'),
  batch_retention interval not null default '365 days' check (batch_retention >= interval '0')
);
comment on table app_private.retention_settings is
  'How long finished work is kept (one row), written by workers at start from ITEM_RETENTION_DAYS and BATCH_RETENTION_DAYS; the prune_finished_batches task reads it.';
comment on column app_private.retention_settings.singleton is 'Always true: there is one row.';
comment on column app_private.retention_settings.item_retention is
  'How long after a batch finished its items are kept (with their payloads, results and errors), and the catalog files its imports read.';
comment on column app_private.retention_settings.batch_retention is
  'How long after a batch finished its own row, counters and run summary are kept (and the sweeper''s log).';
insert into app_private.retention_settings default values;

create table app_private.batches_being_pruned (
  batch_id uuid primary key references app_public.batches on delete cascade
);
comment on table app_private.batches_being_pruned is
  'Batches whose items prune_finished_batches has begun to remove and not finished (a batch''s items go over several transactions): the next call resumes them first.';
comment on column app_private.batches_being_pruned.batch_id is 'The batch (its items_pruned_at says since when).';

create type app_public.pruned_rows as (
  items bigint,
  batches_emptied integer,
  batches bigint,
  run_summaries bigint,
  catalog_file_chunks bigint,
  catalog_files_emptied integer,
  sweeper_repairs bigint,
  more boolean
);
comment on type app_public.pruned_rows is 'What one call of prune_finished_batches removed.';
comment on column app_public.pruned_rows.items is 'Batch items removed.';
comment on column app_public.pruned_rows.batches_emptied is 'Batches whose last items went in this call.';
comment on column app_public.pruned_rows.batches is 'Batches removed (their counters went with them).';
comment on column app_public.pruned_rows.run_summaries is 'Run summaries removed with their batches.';
comment on column app_public.pruned_rows.catalog_file_chunks is 'Pieces of catalog files removed (about 1 MB each).';
comment on column app_public.pruned_rows.catalog_files_emptied is 'Catalog files whose content was removed in this call (their rows stay, with content_removed_at).';
comment on column app_public.pruned_rows.sweeper_repairs is 'Entries of the sweeper''s log removed.';
comment on column app_public.pruned_rows.more is 'True when the call used its whole budget (max_rows): call again, in a new transaction, until it is false.';

-- Security definer: clients may not delete anything here; the operator check is its own.
create function app_public.prune_finished_batches(
  older_than interval,
  batches_older_than interval default null,
  max_rows integer default 5000
) returns app_public.pruned_rows
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
#variable_conflict use_column
declare
  v_result app_public.pruned_rows := row(0, 0, 0, 0, 0, 0, 0, false)::app_public.pruned_rows;
  v_items_before timestamptz;
  v_batches_before timestamptz;
  v_budget integer := max_rows;
  v_id uuid;
  v_ids uuid[];
  v_n bigint;
  v_chunks integer;
begin
  if not app_public.current_user_sees_all_tenants() then
    raise exception 'only the installation''s operator prunes finished batches' using errcode = 'FLADM';
  end if;
  if older_than is null or older_than < interval '0' or batches_older_than < interval '0' then
    raise exception 'olderThan and batchesOlderThan must be intervals of 0 or more' using errcode = 'FLINV';
  end if;
  if max_rows is null or max_rows not between 1 and 100000 then
    raise exception 'maxRows must be from 1 to 100000, not %', max_rows using errcode = 'FLINV';
  end if;
  v_items_before := now() - older_than;
  if batches_older_than is not null then
    v_batches_before := now() - batches_older_than;
    -- A batch past its own retention loses its items first, whatever theirs.
    v_items_before := greatest(v_items_before, v_batches_before);
  end if;

  -- 1. Items of finished batches past the items' retention, once the run summary is written (it
  --    is all that is left of them afterwards): a batch begun by an earlier call first. Each
  --    batch costs at least one row of the budget, so that empty ones do not make a call unbounded.
  for v_id in
    select p.batch_id from app_private.batches_being_pruned p
    union all
    (select b.id from app_public.batches b
     where b.finished_at is not null and b.items_pruned_at is null and b.finished_at < v_items_before
       and exists (select 1 from app_public.run_summaries s where s.batch_id = b.id)
     order by b.finished_at
     limit max_rows)
  loop
    exit when v_budget <= 0;
    -- Stamped first: retry_failed_items, which locks the same row, refuses from now on. (The
    -- update waits for a retry under way, and then finds the batch reopened: it is skipped.)
    update app_public.batches b set items_pruned_at = now()
      where b.id = v_id and b.items_pruned_at is null and b.finished_at < v_items_before;
    if found then
      insert into app_private.batches_being_pruned (batch_id) values (v_id);
    elsif not exists (select 1 from app_private.batches_being_pruned p where p.batch_id = v_id) then
      continue;
    end if;
    delete from app_public.batch_items i where i.id in (
      select i2.id from app_public.batch_items i2 where i2.batch_id = v_id order by i2.id limit v_budget);
    get diagnostics v_n = row_count;
    v_result.items := v_result.items + v_n;
    -- Fewer than asked for: that was the last of them (a finished batch gets no new items).
    if v_n < v_budget then
      delete from app_private.batches_being_pruned where batch_id = v_id;
      v_result.batches_emptied := v_result.batches_emptied + 1;
    end if;
    v_budget := v_budget - greatest(v_n, 1);
  end loop;

  -- 2. Catalog files past the items' retention that no unfinished or recent import names (each
  --    piece counts as 100 rows of the budget: a megabyte stored out of line). A file's
  --    content_removed_at is stamped as its first piece goes, so an import that names it later
  --    fails saying so; a file begun by an earlier call is finished first.
  for v_id in
    select f.id from app_public.catalog_files f
    where f.content_removed_at is not null
      and exists (select 1 from app_private.catalog_file_chunks c where c.file_id = f.id)
    union all
    (select f.id from app_public.catalog_files f
     where f.content_removed_at is null and f.size_bytes is not null and f.uploaded_at < v_items_before
       and not exists (
         select 1 from app_public.batches b join app_public.batch_items i on i.batch_id = b.id
         where b.kind = 'import_catalog' and (b.finished_at is null or b.finished_at >= v_items_before)
           and i.payload->>'file_id' = f.id::text)
     order by f.uploaded_at)
  loop
    exit when v_budget <= 0;
    v_chunks := greatest(v_budget / 100, 1);
    update app_public.catalog_files f set content_removed_at = now() where f.id = v_id and f.content_removed_at is null;
    delete from app_private.catalog_file_chunks c where (c.file_id, c.seq) in (
      select c2.file_id, c2.seq from app_private.catalog_file_chunks c2 where c2.file_id = v_id order by c2.seq limit v_chunks);
    get diagnostics v_n = row_count;
    v_result.catalog_file_chunks := v_result.catalog_file_chunks + v_n;
    if v_n < v_chunks then
      v_result.catalog_files_emptied := v_result.catalog_files_emptied + 1;
    end if;
    v_budget := v_budget - greatest(v_n * 100, 1);
  end loop;

  -- 3. Batches past their own retention whose items are gone, with their counters and summaries,
  --    and the sweeper's log of the same age.
  if v_batches_before is not null and v_budget > 0 then
    select array_agg(b.id) into v_ids from (
      select b.id from app_public.batches b
      where b.items_pruned_at is not null and b.finished_at < v_batches_before
        and not exists (select 1 from app_private.batches_being_pruned p where p.batch_id = b.id)
      order by b.finished_at
      limit greatest(v_budget / 3, 1)) b;
    if v_ids is not null then
      select count(*) into v_n from app_public.run_summaries s where s.batch_id = any(v_ids);
      v_result.run_summaries := v_n;
      delete from app_public.batches b where b.id = any(v_ids);
      get diagnostics v_n = row_count;
      v_result.batches := v_n;
      v_budget := v_budget - 3 * v_n::integer;
    end if;
    if v_budget > 0 then
      delete from app_private.sweeper_repairs r where r.id in (
        select r2.id from app_private.sweeper_repairs r2 where r2.repaired_at < v_batches_before order by r2.id limit v_budget);
      get diagnostics v_n = row_count;
      v_result.sweeper_repairs := v_n;
      v_budget := v_budget - v_n::integer;
    end if;
  end if;

  v_result.more := v_budget <= 0;
  return v_result;
end
$$;
comment on function app_public.prune_finished_batches(interval, interval, integer) is
  'Removes finished work past its retention, at most `maxRows` rows per call (one transaction): the items of batches finished more than `olderThan` ago (once their run summary is written; the batches keep their counts, status, times and summary, and `itemsPrunedAt`), the content of catalog files uploaded before then that no unfinished or recent import names, and, with `batchesOlderThan`, batches finished more than that ago with their summaries, and the sweeper''s log. Returns what it removed; call it again while `more` is true. The installation''s operator only (FLADM). The `prune_finished_batches` task runs it daily with ITEM_RETENTION_DAYS and BATCH_RETENTION_DAYS.';
grant execute on function app_public.prune_finished_batches(interval, interval, integer) to app_admin;

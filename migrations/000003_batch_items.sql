-- Up Migration
-- Batch items, and the triggers that keep counters, enqueue jobs and move the batch's status.
-- Everything here is statement-level where rows arrive in bulk: a million-row INSERT ... SELECT
-- costs one round of trigger work, not a million.

create table app_public.batch_items (
  id bigint generated always as identity primary key,
  batch_id uuid not null,
  tenant_id uuid not null default app_public.current_tenant_id(),
  payload jsonb not null default '{}' check (jsonb_typeof(payload) = 'object'),
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'succeeded', 'failed', 'cancelled')),
  attempts integer not null default 0 check (attempts >= 0),
  interruptions integer not null default 0 check (interruptions >= 0),
  last_error text,
  result jsonb,
  run_after timestamptz,
  locked_by text,
  started_at timestamptz,
  finished_at timestamptz,
  check ((status = 'processing') = (locked_by is not null)),
  check ((status in ('succeeded', 'failed', 'cancelled')) = (finished_at is not null))
) with (vacuum_truncate = false, fillfactor = 35);
-- An item is written three times: inserted, claimed, finished. No index names a column that a
-- claim or an outcome changes (status, locked_by), and each page keeps room for the new versions,
-- so those updates stay on their page and add no index entries (heap-only tuples): the largest
-- saving per item there is. A claim's version is larger than the inserted row (it adds the worker
-- and the start), and must fit beside it; the outcome's must fit beside the claim's once the
-- inserted row is pruned. Rows filling a third of the page leave that room for payloads and
-- results of up to about a hundred bytes. Whatever looks for items by status or worker reads them
-- by batch.
-- (batch_id, id), not (batch_id) alone: a chunk names its items by id within one batch.
create index batch_items_batch_id_id_idx on app_public.batch_items (batch_id, id);

comment on table app_public.batch_items is E'@behavior -insert -update -delete -query:resource:connection -query:resource:list\n@foreignKey (batch_id, tenant_id) references app_public.batches (id, tenant_id)|@fieldName batch|@foreignFieldName items\nOne unit of work of a batch. Items only move forward: pending → processing → succeeded, failed or cancelled (failed items may be retried).';
-- An item belongs to a batch of its own tenant: a rule kept by triggers, not by a foreign key,
-- whose check is one query per row, the largest cost of a big insert.
-- tg_batch_items__count_statuses checks it once per statement as it counts the new items, against
-- batch rows it then holds; tg_batches__delete_items deletes a batch's items with it; batches keep
-- their id and tenant (tg_batches__refuse_move). The @foreignKey tag gives GraphQL the relation.
comment on column app_public.batch_items.id is 'The item''s id.';
comment on column app_public.batch_items.batch_id is 'The batch the item belongs to.';
comment on column app_public.batch_items.tenant_id is 'The tenant that owns the item (always the batch''s): by default the request''s tenant (jwt.claims.tenant_id), else the batch''s.';
comment on column app_public.batch_items.payload is 'What to do, as a JSON object; its shape depends on the batch''s kind.';
-- @isIndexed: items are read a batch at a time, where grouping by status is cheap.
comment on column app_public.batch_items.status is E'@isIndexed\n`pending`, `processing`, `succeeded`, `failed` or `cancelled`.';
comment on column app_public.batch_items.attempts is 'How many times the item has been started, not counting attempts cut short by a database outage, a shutdown or a worker that died: those are given back.';
comment on column app_public.batch_items.interruptions is 'How many times the worker running the item died while it ran. An item whose worker dies three times fails: it may be what kills it.';
comment on column app_public.batch_items.last_error is 'The error message of the last failed attempt.';
comment on column app_public.batch_items.result is 'What the item produced (kind-specific JSON); numeric fields are summed into the run summary''s stats.';
comment on column app_public.batch_items.run_after is 'While `pending` after a failed attempt: when the retry may start (backoff).';
comment on column app_public.batch_items.locked_by is 'While `processing`: the worker running the item.';
comment on column app_public.batch_items.started_at is 'When the last attempt started.';
comment on column app_public.batch_items.finished_at is 'When the item reached a terminal state.';

create function app_private.tg_batch_items__fill_tenant_id() returns trigger
language plpgsql stable security definer set search_path to pg_catalog, pg_temp as $$
begin
  select b.tenant_id into new.tenant_id from app_public.batches b where b.id = new.batch_id;
  if new.tenant_id is null then
    -- A batch inserted by the same statement (a data-modifying WITH) is not visible to it yet.
    raise exception 'batch item of batch % has no tenant: that batch does not exist, or is inserted by this same statement', new.batch_id
      using errcode = 'FLTNI',
            hint = 'Insert the items in a statement after the one that inserts their batch (in the same transaction), give their tenant_id, or run as the tenant (jwt.claims.tenant_id), whose tenant is the default.';
  end if;
  return new;
end
$$;
comment on function app_private.tg_batch_items__fill_tenant_id() is 'Gives an item its batch''s tenant when the INSERT leaves it out and no tenant claim gave one; FLTNI when the batch is not visible to the statement.';
create trigger _100_fill_tenant_id before insert on app_public.batch_items
  for each row when (new.tenant_id is null)
  execute function app_private.tg_batch_items__fill_tenant_id();

create function app_private.tg_batch_items__refuse_change() returns trigger
language plpgsql as $$
begin
  if old.batch_id <> new.batch_id or old.tenant_id <> new.tenant_id then
    raise exception 'batch item % cannot move to another batch or tenant', old.id using errcode = 'FLTRN';
  end if;
  raise exception 'batch item % cannot go from % to %', old.id, old.status, new.status
    using errcode = 'FLTRN', hint = 'Items go pending → processing → succeeded, failed or cancelled; only failed items go back to pending.';
end
$$;
comment on function app_private.tg_batch_items__refuse_change() is 'Raises FLTRN for an illegal status transition or an item moved between batches.';
-- The WHEN clause is evaluated without calling any function, so legal updates cost nothing here.
-- After the row, not before: PostgreSQL locks every row a BEFORE UPDATE trigger could fire on (a
-- WAL record each) before it evaluates the WHEN clause, which would double the writes of every
-- claim and outcome. An illegal change still fails its statement, at the statement's end.
create trigger _200_guard_status_transition after update on app_public.batch_items
  for each row when (
    old.batch_id <> new.batch_id or old.tenant_id <> new.tenant_id
    or (old.status <> new.status and not (
         (old.status = 'pending' and new.status in ('processing', 'cancelled'))
      or (old.status = 'processing' and new.status in ('pending', 'succeeded', 'failed', 'cancelled'))
      or (old.status = 'failed' and new.status = 'pending')))
  )
  execute function app_private.tg_batch_items__refuse_change();

-- What a batch's status must be, given its counters and whether it ever started.
create function app_private.batch_status_for(c app_private.batch_counters, p_started boolean) returns text
language sql immutable parallel safe as $$
  select case
    when c.sealed and c.pending_items + c.processing_items = 0 then
      case when c.cancelled_items > 0 then 'cancelled'
           when c.failed_items > 0 then 'completed_with_errors'
           else 'completed' end
    when p_started or c.succeeded_items + c.failed_items + c.cancelled_items > 0 then 'processing'
    else 'pending'
  end
$$;
comment on function app_private.batch_status_for(app_private.batch_counters, boolean) is
  'The one rule for a batch''s status: terminal once its item list is sealed and no item is pending or processing (cancelled if any item was cancelled, completed_with_errors if any failed), processing once an item started (advance_items marks the batch started) or finished, else pending.';

create function app_private.settle_batch(p_batch_id uuid) returns text
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
declare
  v_counters app_private.batch_counters;
  v_batch app_public.batches;
  v_status text;
begin
  select * into v_counters from app_private.batch_counters where batch_id = p_batch_id;
  select * into v_batch from app_public.batches where id = p_batch_id;
  if v_counters is null or v_batch is null then
    return null;
  end if;
  v_status := app_private.batch_status_for(v_counters, v_batch.started_at is not null);
  if v_status = v_batch.status then
    return v_status;
  end if;

  update app_public.batches set
    status = v_status,
    started_at = case when v_status = 'processing' then coalesce(started_at, now()) else started_at end,
    finished_at = case when v_status in ('completed', 'completed_with_errors', 'cancelled') then coalesce(finished_at, now()) end
  where id = p_batch_id;

  if v_status in ('completed', 'completed_with_errors', 'cancelled') then
    -- The job key makes two racing finalizations (if one ever slipped through) one summary.
    perform graphile_worker.add_job('aggregate_batch', json_build_object('batch_id', p_batch_id),
      job_key => 'aggregate_batch:' || p_batch_id, max_attempts => 10);
  else
    -- Reopened (failed items retried, or counters corrected): its old summary no longer holds.
    delete from app_public.run_summaries where batch_id = p_batch_id;
  end if;
  return v_status;
end
$$;
comment on function app_private.settle_batch(uuid) is
  'Moves a batch to the status its counters imply (see batch_status_for); on reaching a terminal status stamps finished_at and enqueues aggregate_batch. Callers hold the batch''s row lock (see apply_status_deltas for how exactly one transaction finalizes a batch).';

create type app_private.status_delta as (
  batch_id uuid, pending integer, processing integer, succeeded integer, failed integer, cancelled integer,
  last_finished_at timestamptz
);
comment on type app_private.status_delta is 'How one statement changed the item counts of one batch, by status (negative when items left a status), and when the last item it finished finished.';

-- Live progress (the batchProgress subscription), delivered when the transaction commits.
create function app_private.notify_batch_progress(p_tenant_id uuid, p_batch_id uuid, p_status text, p_done integer) returns void
language sql volatile as $$
  select pg_notify('batch_progress:' || md5(p_tenant_id || ':' || p_batch_id), p_status || ':' || p_done)
$$;
comment on function app_private.notify_batch_progress(uuid, uuid, text, integer) is
  'Tells the batch''s progress channel (named by tenant and batch) its status and how many of its items are done.';

-- Exactly one transaction finalizes a batch, though none holds a lock every chunk waits for. Each
-- statement adds its changes to its own session's counter slot. One that only moves items between
-- pending and processing (claims, retries after a backoff, items given back) finishes nothing and
-- takes no lock. While items of the batch are pending, one that finishes items takes the batch's
-- row FOR SHARE: any number of them run at once. Once none is pending (every unfinished item is
-- held by a worker), or when it adds unfinished items (new items, failed items retried), it takes
-- the row exclusively: those take turns, each settles the batch from what all before it committed,
-- and the last one finalizes it. A holder in share mode, reading the summed counters in a new
-- statement after its lock, finds:
-- * Nothing unfinished: every other transaction that finished items of the batch has committed (an
--   uncommitted one's items would still look unfinished here), so this one holds the only lock,
--   and finalizes the batch.
-- * Only items held by workers left, none pending: their transactions may be finishing them now,
--   each unable to see the others'. This one tries for the row alone (NOWAIT): with it, it settles
--   the batch after reading again; without it, it enqueues finalize_batch, which takes the row once
--   every holder has committed, and settles the batch then.
-- * Pending items left: a later transaction finishes them, and the batch.
create function app_private.apply_status_deltas(p_deltas app_private.status_delta[]) returns void
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
declare
  v_delta app_private.status_delta;
  v_batch app_public.batches;
  v_counters app_private.batch_counters;
  v_status text;
  v_done integer;
  v_finishes boolean;
  v_alone boolean;
begin
  -- The deltas come in batch_id order: one order for every statement that locks several batches.
  foreach v_delta in array p_deltas loop
    v_finishes := (v_delta.succeeded, v_delta.failed, v_delta.cancelled) <> (0, 0, 0)
      or v_delta.pending + v_delta.processing <> 0;
    if v_finishes then
      v_alone := v_delta.pending + v_delta.processing >= 0
        or (select c.pending_items + v_delta.pending = 0 from app_private.batch_counters c where c.batch_id = v_delta.batch_id);
      if v_alone then
        select * into v_batch from app_public.batches b where b.id = v_delta.batch_id for no key update;
      else
        select * into v_batch from app_public.batches b where b.id = v_delta.batch_id for share;
      end if;
      continue when not found;
    end if;
    insert into app_private.batch_counter_slots as s
      (batch_id, slot, pending_items, processing_items, succeeded_items, failed_items, cancelled_items, last_item_finished_at)
    values (v_delta.batch_id, app_private.counter_slot(), v_delta.pending, v_delta.processing, v_delta.succeeded,
      v_delta.failed, v_delta.cancelled, v_delta.last_finished_at)
    on conflict (batch_id, slot) do update set
      pending_items = s.pending_items + excluded.pending_items,
      processing_items = s.processing_items + excluded.processing_items,
      succeeded_items = s.succeeded_items + excluded.succeeded_items,
      failed_items = s.failed_items + excluded.failed_items,
      cancelled_items = s.cancelled_items + excluded.cancelled_items,
      last_item_finished_at = greatest(s.last_item_finished_at, excluded.last_item_finished_at),
      updated_at = now();
    continue when not v_finishes;
    select * into v_counters from app_private.batch_counters c where c.batch_id = v_delta.batch_id;
    if v_alone or v_counters.pending_items + v_counters.processing_items = 0 then
      v_status := app_private.settle_batch(v_delta.batch_id);
    elsif v_counters.sealed and v_counters.pending_items = 0 then
      v_status := app_private.settle_batch_if_alone(v_delta.batch_id);
    else
      v_status := v_batch.status;
    end if;
    -- Live progress on every change of status, and as done items cross each whole percent: every
    -- commit that notifies waits for the others' (one lock for the whole database), so a
    -- notification per chunk would make chunks of one item take turns.
    v_done := v_counters.succeeded_items + v_counters.failed_items + v_counters.cancelled_items;
    if v_status is distinct from v_batch.status
       or v_done * 100 / greatest(v_batch.total_items, 1)
          <> (v_done - v_delta.succeeded - v_delta.failed - v_delta.cancelled) * 100 / greatest(v_batch.total_items, 1)
    then
      perform app_private.notify_batch_progress(v_batch.tenant_id, v_batch.id, v_status, v_done);
    end if;
  end loop;
end
$$;
comment on function app_private.apply_status_deltas(app_private.status_delta[]) is
  'Adds item status changes (one delta per batch, in batch_id order) to the batches'' counters (each session in its own slot), finalizes each batch whose last items they were (exactly once: see the comment above it), and notifies its progress channel when its status changes or its done items cross a whole percent.';

create function app_private.settle_batch_if_alone(p_batch_id uuid) returns text
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
begin
  begin
    perform 1 from app_public.batches b where b.id = p_batch_id for no key update nowait;
  exception when lock_not_available then
    perform graphile_worker.add_job('finalize_batch', json_build_object('batch_id', p_batch_id),
      job_key => 'finalize_batch:' || p_batch_id, max_attempts => 25);
    -- advance_items hands this to its worker, which finalizes the batch as soon as it has
    -- committed: sooner than the job, which is there should that worker die first.
    perform set_config('finishline.batch_to_finalize', p_batch_id::text, true);
    return (select b.status from app_public.batches b where b.id = p_batch_id);
  end;
  return app_private.settle_batch(p_batch_id);
end
$$;
comment on function app_private.settle_batch_if_alone(uuid) is
  'For a transaction that finished items of a batch whose other unfinished items are all held by workers (none pending): settles the batch if it holds the batch''s row alone; else enqueues finalize_batch to settle it once the other holders have committed, and names the batch in the setting finishline.batch_to_finalize (for advance_items'' caller, which can do it sooner). Returns the batch''s status.';

create function app_private.finalize_batch(p_batch_id uuid) returns text
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
begin
  -- Waits for every transaction finishing items of the batch; settle_batch then reads anew.
  perform 1 from app_public.batches b where b.id = p_batch_id for no key update;
  return app_private.settle_batch(p_batch_id);
end
$$;
comment on function app_private.finalize_batch(uuid) is
  'Settles a batch once no transaction finishing its items is left running: called by the worker whose advance_items named the batch, and by the finalize_batch task (enqueued by settle_batch_if_alone); whichever comes second finds it settled. Returns its status.';

create function app_private.tg_batch_items__count_statuses() returns trigger
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
declare
  v_deltas app_private.status_delta[];
  v_sealed_batch uuid;
  v_missing_batch uuid;
  v_unfinished_batch uuid;
begin
  -- Transition tables exist only for the trigger's own event, hence one query per event.
  if tg_op = 'INSERT' then
    -- One pass over the new items counts them by batch and tenant, and by status; the counts then
    -- serve the rule that an item's batch exists and is its tenant's (the UPDATE takes each
    -- batch's row, so none can go before this commits), the seal, the batch's total and its
    -- counters (one row per batch once that rule holds).
    with counted as (
      select batch_id, tenant_id, count(*)::integer as n,
        count(*) filter (where status = 'pending')::integer as pending,
        count(*) filter (where status = 'processing')::integer as processing,
        count(*) filter (where status = 'succeeded')::integer as succeeded,
        count(*) filter (where status = 'failed')::integer as failed,
        count(*) filter (where status = 'cancelled')::integer as cancelled,
        max(finished_at) as last_finished_at
      from new_items group by batch_id, tenant_id
    ), totalled as (
      update app_public.batches b set total_items = b.total_items + i.n
      from counted i where b.id = i.batch_id and b.tenant_id = i.tenant_id
      returning b.id, b.tenant_id
    )
    select
      (select i.batch_id from counted i
       where not exists (select 1 from totalled t where t.id = i.batch_id and t.tenant_id = i.tenant_id) limit 1),
      (select c.batch_id from app_private.batch_counter_slots c join counted i on i.batch_id = c.batch_id
       where c.slot = 0 and c.sealed limit 1),
      (select array_agg(row(batch_id, pending, processing, succeeded, failed, cancelled, last_finished_at)::app_private.status_delta
                        order by batch_id)
       from counted)
    into v_missing_batch, v_sealed_batch, v_deltas;
    if v_missing_batch is not null then
      raise exception 'no batch % of the items'' tenant: an item belongs to an existing batch of its own tenant', v_missing_batch
        using errcode = 'foreign_key_violation', hint = 'Insert the batch first (in the same transaction), with the same tenant_id as its items.';
    end if;
    if v_sealed_batch is not null then
      raise exception 'batch % is closed: items can only be added in the transaction that creates the batch', v_sealed_batch
        using errcode = 'FLSLD';
    end if;
  elsif tg_op = 'UPDATE' then
    select array_agg(row(batch_id, pending, processing, succeeded, failed, cancelled, last_finished_at)::app_private.status_delta
                     order by batch_id) into v_deltas
      from (select batch_id,
              coalesce(sum(n) filter (where status = 'pending'), 0)::integer as pending,
              coalesce(sum(n) filter (where status = 'processing'), 0)::integer as processing,
              coalesce(sum(n) filter (where status = 'succeeded'), 0)::integer as succeeded,
              coalesce(sum(n) filter (where status = 'failed'), 0)::integer as failed,
              coalesce(sum(n) filter (where status = 'cancelled'), 0)::integer as cancelled,
              max(finished_at) as last_finished_at
            from (select batch_id, status, 1 as n, finished_at from new_items
                  union all
                  select batch_id, status, -1, null from old_items) s
            group by batch_id) d
      where (pending, processing, succeeded, failed, cancelled) <> (0, 0, 0, 0, 0);
  else
    -- Items leave with their batch (its counters go with it), or after it finished, when their
    -- retention is over (prune_finished_batches): a finished batch's counts are its record and
    -- stay as they are. Items of a batch that still runs are its work: they are not deleted alone.
    select o.batch_id into v_unfinished_batch from old_items o
      join app_public.batches b on b.id = o.batch_id
      where b.finished_at is null limit 1;
    if v_unfinished_batch is not null then
      raise exception 'items of batch % cannot be deleted: it has not finished', v_unfinished_batch
        using errcode = 'FLUNF', hint = 'Cancel the batch first, or delete the batch with its items.';
    end if;
  end if;
  if v_deltas is not null then
    perform app_private.apply_status_deltas(v_deltas);
  end if;
  return null;
end
$$;
comment on function app_private.tg_batch_items__count_statuses() is
  'Keeps batch counters equal to the items'' statuses, once per statement, and settles the batches concerned. New items must name an existing batch of their own tenant (else 23503) that their transaction created (else FLSLD). Deleting items changes no counter: they go with their batch, or once it has finished (pruning), when its counts are its record; deleting items of an unfinished batch alone raises FLUNF.';
create trigger _500_count_inserted after insert on app_public.batch_items
  referencing new table as new_items for each statement
  execute function app_private.tg_batch_items__count_statuses();
create trigger _500_count_updated after update on app_public.batch_items
  referencing old table as old_items new table as new_items for each statement
  execute function app_private.tg_batch_items__count_statuses();
create trigger _500_count_deleted after delete on app_public.batch_items
  referencing old table as old_items for each statement
  execute function app_private.tg_batch_items__count_statuses();

-- graphile_worker.jobs shows no payload: each chunk job is recorded with its batch, so that the
-- sweeper and stuck_reason can ask whether a job of this batch (not merely of its task) is left.
create table app_private.chunk_jobs (
  batch_id uuid not null,
  job_id bigint not null,
  primary key (batch_id, job_id)
);
comment on table app_private.chunk_jobs is
  'Which batch each chunk job was enqueued for (graphile_worker.jobs does not show payloads): the sweeper and stuck_reason look here for a job that can still run a batch''s pending items. Rows whose job is gone are deleted by the sweeper.';
comment on column app_private.chunk_jobs.batch_id is 'The batch whose items the job runs (no foreign key: the row goes with its job, not its batch).';
comment on column app_private.chunk_jobs.job_id is 'The job''s id in graphile_worker.jobs.';

-- Fair share. Graphile Worker runs the job of the lowest priority number first, so a chunk's
-- priority is its position in its batch: every batch's first chunk runs before any batch's second,
-- batches take turns chunk by chunk, and a batch submitted while a big one runs starts at the next
-- free slot. The batch's priority (or its kind's) comes first, in steps wider than any position.
create function app_private.chunk_priority(p_batch_priority smallint, p_position bigint) returns smallint
language sql immutable parallel safe as $$
  select (p_batch_priority * 10000 + least(p_position, 9999))::smallint
$$;
comment on function app_private.chunk_priority(smallint, bigint) is
  'The Graphile Worker priority of a batch''s chunk: the batch''s priority (-2 to 2) in steps of 10,000, then the chunk''s position in the batch (capped at 9,999: later chunks of a huge batch share it).';

-- A tenant with max_running_chunks L puts its chunks in L named queues of Graphile Worker, which
-- runs one job of a named queue at a time: at most L of its chunks run at once, whichever workers
-- are free, and its waiting chunks hold no worker back.
create function app_private.tenant_queue_name(p_tenant_id uuid, p_max_running_chunks integer, p_position bigint) returns text
language sql immutable parallel safe as $$
  select case when p_max_running_chunks is not null
    then 'finishline_tenant:' || p_tenant_id || ':' || (p_position % p_max_running_chunks) end
$$;
comment on function app_private.tenant_queue_name(uuid, integer, bigint) is
  'The Graphile Worker queue of a tenant''s chunk: one of its max_running_chunks named queues by the chunk''s position, or null (no queue) when the tenant has no limit.';

create type app_private.batch_item_ids as (batch_id uuid, item_ids bigint[]);
comment on type app_private.batch_item_ids is 'Items of one batch by id, in the order they should run (ascending): what enqueue_items cuts into chunks.';

create function app_private.enqueue_items(p_items app_private.batch_item_ids[], p_run_at timestamptz default null)
returns integer
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
declare
  v_jobs integer;
begin
  with job as (
    select * from graphile_worker.add_jobs(array(
      -- Chunk c of a batch is slice c of its item ids, cut to its kind's chunk_size.
      select row(k.task_identifier,
                 json_build_object('batch_id', a.batch_id,
                   'item_ids', a.item_ids[c.position * k.chunk_size + 1 : (c.position + 1) * k.chunk_size]),
                 app_private.tenant_queue_name(t.id, t.max_running_chunks, c.position), p_run_at, null, null,
                 app_private.chunk_priority(coalesce(b.priority, k.priority), c.position), null)::graphile_worker.job_spec
      from unnest(p_items) a
      join app_public.batches b on b.id = a.batch_id
      join app_public.batch_kinds k on k.kind = b.kind
      join app_public.tenants t on t.id = b.tenant_id
      cross join lateral generate_series(0, (cardinality(a.item_ids) - 1) / k.chunk_size) as c(position)
      order by c.position, a.batch_id
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
comment on function app_private.enqueue_items(app_private.batch_item_ids[], timestamptz) is
  'Enqueues jobs for the given items (each batch''s ids in the order they should run): one job per chunk of the kind''s chunk_size, run by the kind''s task, not before p_run_at, at the priority of its position (chunk_priority), in its tenant''s queues when the tenant has a limit (tenant_queue_name); each recorded in chunk_jobs. Returns the number of jobs.';

create function app_private.tg_batch_items__enqueue_jobs() returns trigger
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
begin
  if tg_op = 'INSERT' then
    -- A statement's new rows come in the order inserted, which is their ids' (an identity column
    -- always generated): no sort of what may be a million ids.
    perform app_private.enqueue_items(array_agg(row(g.batch_id, g.item_ids)::app_private.batch_item_ids))
      from (select batch_id, array_agg(id) as item_ids
            from new_items where status = 'pending' group by batch_id) g
      having count(*) > 0;
  elsif exists (select 1 from new_items where status = 'pending') then
    -- Items that became pending again (a retry after backoff, a released item, a failed item
    -- retried by hand) get a job that runs when their backoff ends.
    perform app_private.enqueue_items(array_agg(row(g.batch_id, g.item_ids)::app_private.batch_item_ids), g.run_after)
      from (select n.run_after, n.batch_id, array_agg(n.id order by n.id) as item_ids
            from new_items n join old_items o on o.id = n.id
            where n.status = 'pending' and o.status <> 'pending'
            group by n.run_after, n.batch_id) g
      group by g.run_after;
  end if;
  return null;
end
$$;
comment on function app_private.tg_batch_items__enqueue_jobs() is
  'Enqueues a job for every item that becomes pending (inserted, or back from processing or failed), in the same transaction: no pending item is ever without its job.';
create trigger _600_enqueue_inserted after insert on app_public.batch_items
  referencing new table as new_items for each statement
  execute function app_private.tg_batch_items__enqueue_jobs();
create trigger _600_enqueue_requeued after update on app_public.batch_items
  referencing old table as old_items new table as new_items for each statement
  execute function app_private.tg_batch_items__enqueue_jobs();

-- Batches: counters from birth, a fresh start enforced, status changes checked against the counters.
create function app_private.tg_batches__create_counters() returns trigger
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
begin
  insert into app_private.batch_counter_slots (batch_id, slot) values (new.id, 0);
  return null;
end
$$;
comment on function app_private.tg_batches__create_counters() is 'Gives every new batch its first counter slot (slot 0, which will carry its seal).';
create trigger _100_create_counters after insert on app_public.batches
  for each row execute function app_private.tg_batches__create_counters();

create function app_private.tg_batches__delete_items() returns trigger
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
begin
  if tg_op = 'TRUNCATE' then
    -- Only TRUNCATE ... CASCADE gets here (other tables refer to batches), and so does it go on.
    truncate app_public.batch_items cascade;
  else
    delete from app_public.batch_items i using deleted_batches d where i.batch_id = d.id;
  end if;
  return null;
end
$$;
comment on function app_private.tg_batches__delete_items() is 'Deletes the items of deleted batches, in one statement for all of them (all items when batches is truncated).';
create trigger _100_delete_items after delete on app_public.batches
  referencing old table as deleted_batches for each statement
  execute function app_private.tg_batches__delete_items();
create trigger _100_truncate_items after truncate on app_public.batches
  for each statement execute function app_private.tg_batches__delete_items();

create function app_private.tg_batches__refuse_move() returns trigger
language plpgsql as $$
begin
  raise exception 'batch % keeps its id and tenant', old.id
    using errcode = 'FLBMV', hint = 'Submit a new batch for the other tenant.';
end
$$;
comment on function app_private.tg_batches__refuse_move() is 'Raises FLBMV for an update that changes a batch''s id or tenant: its items, counters and summary name both.';
create trigger _010_refuse_move before update of id, tenant_id on app_public.batches
  for each row when (old.id <> new.id or old.tenant_id <> new.tenant_id)
  execute function app_private.tg_batches__refuse_move();

create function app_private.tg_batches__refuse_new_status() returns trigger
language plpgsql as $$
begin
  raise exception 'a new batch starts pending with no items: its status, counts and times follow its items'
    using errcode = 'FLBST';
end
$$;
comment on function app_private.tg_batches__refuse_new_status() is 'Raises FLBST for a batch inserted with a status, count or time of its own.';
create trigger _050_guard_new_batch before insert on app_public.batches
  for each row when (new.status <> 'pending' or new.total_items <> 0 or new.started_at is not null or new.finished_at is not null
                    or new.items_pruned_at is not null)
  execute function app_private.tg_batches__refuse_new_status();

create function app_private.tg_batches__check_status() returns trigger
language plpgsql security definer set search_path to pg_catalog, pg_temp as $$
declare
  v_implied text;
begin
  select app_private.batch_status_for(c, new.started_at is not null) into v_implied
    from app_private.batch_counters c where c.batch_id = new.id;
  if new.status is distinct from v_implied then
    raise exception 'batch % cannot be set to % while its items say %', new.id, new.status, v_implied
      using errcode = 'FLBST', hint = 'A batch''s status follows its items: cancel_batch and retry_failed_items change them.';
  end if;
  return new;
end
$$;
comment on function app_private.tg_batches__check_status() is 'Lets a batch''s status change only to what its counters imply.';
create trigger _200_guard_status before update of status on app_public.batches
  for each row when (old.status is distinct from new.status)
  execute function app_private.tg_batches__check_status();

create function app_private.tg_batches__seal() returns trigger
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
begin
  update app_private.batch_counter_slots set sealed = true where batch_id = new.id and slot = 0;
  perform app_private.settle_batch(new.id);
  return null;
end
$$;
comment on function app_private.tg_batches__seal() is
  'At the commit of the transaction that created a batch: closes its item list and settles it, so an empty batch completes right away.';
create constraint trigger _900_seal after insert on app_public.batches
  deferrable initially deferred
  for each row execute function app_private.tg_batches__seal();

-- Up Migration
-- The worker's side of the protocol: claim a chunk, record its outcomes, give items back or defer
-- them to a time the handler knows.
-- One statement (advance_items) claims items and records outcomes, each way once per chunk; the
-- counting triggers do the rest in the same transaction.

-- The kind's backoff, looked up only for an item that failed: a chunk's successes, nearly all its
-- outcomes, need no lookup of their batch and kind.
create function app_private.retry_at(p_batch_id uuid, p_failed_attempt integer) returns timestamptz
language sql stable as $$
  select now() + least(k.retry_delay * power(2, p_failed_attempt - 1), k.max_retry_delay)
  from app_public.batches b join app_public.batch_kinds k on k.kind = b.kind
  where b.id = p_batch_id and p_failed_attempt < k.max_attempts
$$;
comment on function app_private.retry_at(uuid, integer) is
  'When an item of the batch whose attempt number p_failed_attempt failed may run again: after the kind''s retry_delay, doubled at each further attempt up to max_retry_delay; null when that attempt was the kind''s last.';

-- A worker's claims and outcomes for one batch go in one statement, whichever it has: a statement's
-- fixed price (its triggers, its plan) is most of what a claim or an outcome of a few items costs,
-- and a worker whose slots run chunks of one item has both at once.
-- The tenant comes with each claimed item so that a handler can hold what its payload names to
-- that tenant: a payload is written by the tenant, and the worker reads as the tables' owner, past
-- row level security (an import_catalog item could otherwise name another tenant's file).
-- Its statements keep one plan per connection (a generic plan: a lookup by id whatever the ids):
-- left to choose, PostgreSQL plans a statement of a few items anew at every call, which costs
-- several times the statement itself. The setting holds for the counting triggers and the
-- finalization the update sets off.
create type app_private.claimed_item as (id bigint, tenant_id uuid, payload jsonb, attempts integer);
comment on type app_private.claimed_item is 'An item a worker claimed: what its handler needs.';

create function app_private.advance_items(p_worker_id text, p_batch_id uuid, p_claim_ids bigint[], p_outcomes jsonb)
returns table (id bigint, tenant_id uuid, payload jsonb, attempts integer, recorded integer, batch_to_finalize uuid)
language plpgsql volatile set plan_cache_mode to force_generic_plan as $$
#variable_conflict use_column
declare
  v_batch app_public.batches;
  v_claimed app_private.claimed_item[];
  v_recorded integer;
begin
  perform set_config('finishline.batch_to_finalize', '', true);
  -- The batch's first claim marks it started before it claims anything, so that every
  -- transaction takes the batch's row before a counter slot: a finisher holds the row (FOR SHARE)
  -- while it waits for its slot, which another session may share, and a claim holds its slot (the
  -- counting trigger) until it commits; one waiting for the row after taking its slot could
  -- deadlock with it. Later claims' update matches no row, and locks none. A batch neither started
  -- nor finished has all its items pending, the chunk's too; started, it is `processing`
  -- (batch_status_for; the status guard checks it).
  update app_public.batches b set started_at = now(), status = 'processing'
  where b.id = p_batch_id and b.started_at is null and b.finished_at is null and cardinality(p_claim_ids) > 0
  returning * into v_batch;
  if found then
    perform app_private.notify_batch_progress(v_batch.tenant_id, v_batch.id, v_batch.status, 0);
  end if;
  -- Two updates, one statement: PostgreSQL runs the counting triggers once, over the rows of both
  -- (one transition table per statement and table). A claim takes items that are pending, an
  -- outcome items the worker holds: no item is both.
  with recorded as (
    update app_public.batch_items i set
      status = case
        when o.error is null then 'succeeded'
        when coalesce(o.permanent, false) or app_private.retry_at(i.batch_id, i.attempts) is null then 'failed'
        else 'pending' end,
      result = o.result,
      last_error = o.error,
      locked_by = null,
      finished_at = case when o.error is null or coalesce(o.permanent, false) or app_private.retry_at(i.batch_id, i.attempts) is null
        then now() end,
      run_after = case when o.error is not null and not coalesce(o.permanent, false) then app_private.retry_at(i.batch_id, i.attempts) end
    from jsonb_to_recordset(p_outcomes) as o(id bigint, error text, result jsonb, permanent boolean)
    -- Only items this worker still holds: a chunk recorded twice, or items cancelled or handed to
    -- another worker meanwhile, change nothing (and no counter). Only a processing item has a
    -- locked_by (a check constraint), so the status goes unsaid.
    where i.id = o.id and i.locked_by = p_worker_id
    returning i.id
  ), claimed as (
    update app_public.batch_items i set
      status = 'processing',
      locked_by = p_worker_id,
      attempts = i.attempts + 1,
      started_at = now(),
      run_after = null
    where i.batch_id = p_batch_id
      and i.id = any(p_claim_ids)
      and i.status = 'pending'
      and (i.run_after is null or i.run_after <= now())
    returning i.id, i.tenant_id, i.payload, i.attempts
  ), held as (
    -- Items this worker claimed already: a claim that committed while its answer was lost to a
    -- broken connection is claimed again by its retry, not left `processing` for good. When every
    -- id was claimed just now none can be held already, and this look-up (one per id) is skipped.
    -- It reads the items as they were before this statement: one finished by it is not held.
    select i.id, i.tenant_id, i.payload, i.attempts
    from app_public.batch_items i
    where (select count(*) from claimed) < cardinality(p_claim_ids)
      and i.batch_id = p_batch_id
      and i.id = any(p_claim_ids)
      -- Processing, said by locked_by alone (see recorded).
      and i.locked_by = p_worker_id
      and not exists (select 1 from recorded r where r.id = i.id)
  )
  select
    -- Composite values, not JSON: a claim of a whole chunk would spend more on building JSON than
    -- on claiming.
    (select array_agg(row(c.id, c.tenant_id, c.payload, c.attempts)::app_private.claimed_item)
     from (select * from claimed union all select * from held) c),
    (select count(*) from recorded)
  into v_claimed, v_recorded;
  return query select c.id, c.tenant_id, c.payload, c.attempts, null::integer, null::uuid from unnest(v_claimed) c;
  -- Read once the statement is over: its triggers name the batch.
  return query select null::bigint, null::uuid, null::jsonb, null::integer, v_recorded,
    nullif(current_setting('finishline.batch_to_finalize'), '')::uuid;
end
$$;
comment on function app_private.advance_items(text, uuid, bigint[], jsonb) is
  'A worker''s step on a batch, in one statement: claims the items of p_claim_ids that are still pending and due, and records the outcomes `[{id, error, result, permanent}]` of items it holds. Returns a row per claimed item (its id, tenant, payload and attempt), and per item the worker holds already (its claim''s answer was lost), with its attempt unchanged; items finished, cancelled or held by another worker are skipped, so a job that runs twice does no work twice. An outcome with no error → succeeded; with an error → pending again after a doubling backoff (the update trigger enqueues its retry), or failed after the kind''s last attempt or when `permanent`. A last row, with no item, says how many outcomes it recorded, and the batch the caller should finalize (app_private.finalize_batch) once this transaction has committed, when other transactions were finishing its last items at the same time (settle_batch_if_alone; its finalize_batch job would do it too, a little later).';

create function app_private.start_items(p_batch_id uuid, p_item_ids bigint[], p_worker_id text)
returns table (id bigint, tenant_id uuid, payload jsonb, attempts integer)
language sql volatile as $$
  select a.id, a.tenant_id, a.payload, a.attempts from app_private.advance_items(p_worker_id, p_batch_id, p_item_ids, '[]') a
  where a.id is not null
$$;
comment on function app_private.start_items(uuid, bigint[], text) is
  'The claim half of advance_items, as rows: claims the chunk''s items that are still pending and due, for one worker, with their tenant and payload, and returns those the worker holds already with their attempt unchanged.';

create function app_private.finish_items(p_worker_id text, p_outcomes jsonb, out recorded integer, out batch_to_finalize uuid)
language sql volatile as $$
  select a.recorded, a.batch_to_finalize from app_private.advance_items(p_worker_id, null, '{}', p_outcomes) a
  where a.id is null
$$;
comment on function app_private.finish_items(text, jsonb) is
  'The outcome half of advance_items: records outcomes `[{id, error, result, permanent}]` of items the worker holds, of any batch; returns how many it recorded, and the batch to finalize once this transaction has committed.';

-- No index leads to a worker's items (see batch_items): they are found among the items of the
-- batches that have not finished, which hold every processing item, one batch at a time, each
-- read planned for that batch (see write_run_summary): asked of all unfinished batches at once,
-- PostgreSQL reads the whole table, finished batches' items too. Only a worker that stops or
-- dies asks.
create function app_private.held_item_ids(p_worker_id text) returns bigint[]
language plpgsql stable set plan_cache_mode to force_custom_plan as $$
declare
  v_batch_id uuid;
  v_held bigint[] := '{}';
begin
  for v_batch_id in select b.id from app_public.batches b where b.finished_at is null loop
    v_held := v_held || array(select i.id from app_public.batch_items i where i.batch_id = v_batch_id and i.locked_by = p_worker_id);
  end loop;
  return array(select id from unnest(v_held) as held(id) order by id);
end
$$;
comment on function app_private.held_item_ids(text) is 'The ids of the items a worker holds (processing), in id order.';

create function app_private.release_items(p_worker_id text, p_item_ids bigint[], p_reason text, p_attempt_counts boolean)
returns integer
language plpgsql volatile as $$
declare
  v_released integer;
begin
  with released as (
    update app_public.batch_items i set
      status = case when p_attempt_counts and i.attempts >= k.max_attempts then 'failed' else 'pending' end,
      attempts = case when p_attempt_counts then i.attempts else i.attempts - 1 end,
      last_error = case when p_attempt_counts then p_reason else i.last_error end,
      finished_at = case when p_attempt_counts and i.attempts >= k.max_attempts then now() end,
      locked_by = null,
      run_after = null
    from app_public.batches b, app_public.batch_kinds k
    where i.id = any(coalesce(p_item_ids, app_private.held_item_ids(p_worker_id))) and i.locked_by = p_worker_id
      and b.id = i.batch_id and k.kind = b.kind
    returning i.id
  )
  select count(*) into v_released from released;
  return v_released;
end
$$;
comment on function app_private.release_items(text, bigint[], text, boolean) is
  'Gives a worker''s processing items (all of them when p_item_ids is null) back to the queue (the update trigger enqueues them again). When the attempt counts (the worker died while running them), an item that has used its last attempt fails with p_reason instead, so an item that kills its worker can''t loop forever; when it does not (a clean shutdown before the item ran), the attempt is given back.';

create function app_private.release_items_of_dead_worker(p_worker_id text, p_item_ids bigint[]) returns integer
language plpgsql volatile as $$
declare
  v_released integer;
begin
  with released as (
    update app_public.batch_items i set
      status = case when i.interruptions >= 2 then 'failed' else 'pending' end,
      attempts = case when i.interruptions >= 2 then i.attempts else i.attempts - 1 end,
      interruptions = i.interruptions + 1,
      last_error = case when i.interruptions >= 2 then 'the worker running this item died three times while it ran' else i.last_error end,
      finished_at = case when i.interruptions >= 2 then now() end,
      locked_by = null,
      run_after = null
    where i.id = any(p_item_ids) and i.locked_by = p_worker_id
    returning 1
  )
  select count(*) into v_released from released;
  return v_released;
end
$$;
comment on function app_private.release_items_of_dead_worker(text, bigint[]) is
  'Gives those of p_item_ids that a dead worker still holds (see held_item_ids) back to the queue with their attempt unspent (the item did not fail; its worker died), counting the interruption: an item whose worker dies the third time it runs it fails instead, so that an item that kills its worker can''t loop for ever. Returns how many items it released.';

-- A handler can put its item back to wait until a time it knows, instead of the kind's backoff:
-- a scraped host that answers 429 with Retry-After: 20 is ready in 20 s, and retries after 2, 4
-- and 8 s (each held back by the host's pause) would spend every attempt before then.
create function app_private.defer_items(p_worker_id text, p_item_ids bigint[], p_run_after timestamptz, p_reason text, p_attempt_counts boolean)
returns integer
language plpgsql volatile as $$
declare
  v_deferred integer;
begin
  with deferred as (
    update app_public.batch_items i set
      status = 'pending',
      attempts = case when p_attempt_counts then i.attempts else i.attempts - 1 end,
      last_error = p_reason,
      locked_by = null,
      run_after = p_run_after
    from app_public.batches b, app_public.batch_kinds k
    -- Processing, said by locked_by alone (see finish_items).
    where i.id = any(p_item_ids) and i.locked_by = p_worker_id
      and b.id = i.batch_id and k.kind = b.kind
      -- An attempt that counts and was the last is not deferred: finish_items fails the item.
      and (not p_attempt_counts or i.attempts < k.max_attempts)
    returning i.id
  )
  select count(*) into v_deferred from deferred;
  return v_deferred;
end
$$;
comment on function app_private.defer_items(text, bigint[], timestamptz, text, boolean) is
  'Puts a worker''s processing items back to `pending` until p_run_after (the update trigger enqueues their job for then), with p_reason as their last_error, instead of the kind''s backoff: for a wait the handler knows, such as a host''s Retry-After. When p_attempt_counts is false (the item was held back before doing anything) the attempt is given back; when it is true, an item on its last attempt is left alone, for finish_items to fail. Returns how many items it deferred.';

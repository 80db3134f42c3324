-- Up Migration
-- Who may see and touch batches, and the functions of the public contract.

alter table app_public.batches enable row level security;
create policy select_own on app_public.batches for select
  using (app_private.caller_may_see(tenant_id));
create policy insert_own on app_public.batches for insert
  with check (app_private.caller_may_see(tenant_id));
grant select on app_public.batches to app_anonymous, app_user, app_admin;
grant insert (tenant_id, kind, metadata, idempotency_key, request_fingerprint, priority) on app_public.batches to app_user, app_admin;

alter table app_public.batch_items enable row level security;
create policy select_own on app_public.batch_items for select
  using (app_private.caller_may_see(tenant_id));
create policy insert_own on app_public.batch_items for insert
  with check (app_private.caller_may_see(tenant_id));
grant select on app_public.batch_items to app_anonymous, app_user, app_admin;
grant insert (batch_id, tenant_id, payload) on app_public.batch_items to app_user, app_admin;
-- Clients never update items (no grant, no policy): they change only through the engine and
-- through cancel_batch and retry_failed_items, which run as the owner.

create function app_private.find_batch(p_batch_id uuid) returns app_public.batches
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
comment on function app_private.find_batch(uuid) is 'The batch with this id as the caller may see it, or error FLNFD.';
grant execute on function app_private.find_batch(uuid) to app_user, app_admin;

create function app_public.submit_batch(
  kind text,
  items jsonb,
  metadata jsonb default '{}',
  idempotency_key text default null,
  priority smallint default null
) returns app_public.batches
language plpgsql volatile as $$
#variable_conflict use_column
declare
  v_tenant_id uuid := app_private.require_tenant_id();
  v_batch app_public.batches;
  v_bad_item bigint;
  v_fingerprint bytea;
begin
  perform 1 from app_public.batch_kinds k where k.kind = submit_batch.kind;
  if not found then
    raise exception 'unknown batch kind "%"', submit_batch.kind
      using errcode = 'FLKND', hint = 'The kinds are listed in batch_kinds.';
  end if;
  if submit_batch.items is null or jsonb_typeof(submit_batch.items) <> 'array' then
    raise exception 'items must be a JSON array of payload objects, not %', coalesce(jsonb_typeof(submit_batch.items), 'null')
      using errcode = 'FLITM';
  end if;
  select min(e.position) - 1 into v_bad_item
    from jsonb_array_elements(submit_batch.items) with ordinality as e(payload, position)
    where jsonb_typeof(e.payload) <> 'object';
  if v_bad_item is not null then
    raise exception 'item % is not a JSON object: each item''s payload must be an object', v_bad_item
      using errcode = 'FLPAY';
  end if;
  if submit_batch.metadata is null or jsonb_typeof(submit_batch.metadata) <> 'object' then
    raise exception 'metadata must be a JSON object' using errcode = 'FLMET';
  end if;
  if submit_batch.priority not between -2 and 2 then
    raise exception 'priority must be from -2 (runs first) to 2, not %', submit_batch.priority
      using errcode = 'FLPRI';
  end if;

  if length(submit_batch.idempotency_key) not between 1 and 200 then
    raise exception 'idempotencyKey must be 1 to 200 characters long, not %', length(submit_batch.idempotency_key)
      using errcode = 'FLKEY';
  end if;
  if submit_batch.idempotency_key is not null then
    v_fingerprint := sha256(convert_to(jsonb_build_array(submit_batch.kind, submit_batch.items, submit_batch.metadata, submit_batch.priority)::text, 'UTF8'));
  end if;

  insert into app_public.batches (tenant_id, kind, metadata, idempotency_key, request_fingerprint, priority)
  values (v_tenant_id, submit_batch.kind, submit_batch.metadata, submit_batch.idempotency_key, v_fingerprint, submit_batch.priority)
  on conflict (tenant_id, idempotency_key) do nothing
  returning * into v_batch;
  if v_batch.id is null then
    -- The key was used before: for the same request (a retry) that batch is the answer, whatever
    -- its state; another request under that key is a client's mistake, which would otherwise get
    -- a batch that is not what it asked for. (A batch inserted by plain SQL has no fingerprint.)
    select * into v_batch from app_public.batches b
      where b.tenant_id = v_tenant_id and b.idempotency_key = submit_batch.idempotency_key;
    if v_batch.request_fingerprint <> v_fingerprint then
      raise exception 'idempotency key "%" was used for another request (batch %)', submit_batch.idempotency_key, v_batch.id
        using errcode = 'FLIDM', hint = 'A retry sends the same kind, items, metadata and priority; a new request needs a new key.';
    end if;
    return v_batch;
  end if;

  insert into app_public.batch_items (batch_id, tenant_id, payload)
  select v_batch.id, v_tenant_id, e.payload
  from jsonb_array_elements(submit_batch.items) with ordinality as e(payload, position)
  order by e.position;
  return app_private.find_batch(v_batch.id);
end
$$;
comment on function app_public.submit_batch(text, jsonb, jsonb, text, smallint) is
  'Submits a batch of the given kind for the current tenant, one item per element of `items` (a JSON array of payload objects). With an `idempotencyKey` already used by this tenant for the same request (kind, items, metadata, priority), returns that batch and creates nothing; for another request, error FLIDM. `priority` (-2 runs first, 2 yields; null for the kind''s) orders its chunks among other batches''. Its items start when the transaction commits.';

-- Runs as the owner, because the caller may not update items; find_batch checks that the caller
-- may see the batch, since row level security does not apply here.
create function app_public.cancel_batch(batch_id uuid) returns app_public.batches
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
#variable_conflict use_column
declare
  v_batch app_public.batches := app_private.find_batch(cancel_batch.batch_id);
begin
  update app_public.batch_items i set status = 'cancelled', finished_at = now(), locked_by = null
  where i.batch_id = v_batch.id and i.status in ('pending', 'processing');
  -- Workers running its items abort them (their handlers' signals), freeing their slots.
  perform pg_notify('finishline_batch_cancelled', v_batch.id::text);
  return app_private.find_batch(v_batch.id);
end
$$;
comment on function app_public.cancel_batch(uuid) is
  'Cancels every item of the batch that has not finished: the batch finishes as `cancelled`, and the workers running its items abort them. A finished batch is returned unchanged.';

-- Runs as the owner, like cancel_batch.
create function app_public.retry_failed_items(batch_id uuid) returns app_public.batches
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
#variable_conflict use_column
declare
  v_batch app_public.batches := app_private.find_batch(retry_failed_items.batch_id);
begin
  -- The row lock waits for a prune of this batch that is under way, and keeps one from starting.
  perform 1 from app_public.batches b where b.id = v_batch.id and b.items_pruned_at is null for no key update;
  if not found then
    raise exception 'the items of batch % were removed (retention): there is nothing left to retry', v_batch.id
      using errcode = 'FLPRN', hint = 'Submit the work again as a new batch.';
  end if;
  update app_public.batch_items i set status = 'pending', attempts = 0, interruptions = 0, run_after = null, finished_at = null
  where i.batch_id = v_batch.id and i.status = 'failed';
  return app_private.find_batch(v_batch.id);
end
$$;
comment on function app_public.retry_failed_items(uuid) is
  'Puts the batch''s failed items back to `pending` with a fresh set of attempts and re-opens the batch; their last error stays visible until they run again. A batch whose items were pruned (itemsPrunedAt) has none left: FLPRN.';

create type app_public.batch_summary_request as (
  state text,
  retry_after_seconds integer,
  summary app_public.run_summaries
);
comment on type app_public.batch_summary_request is 'The answer to request_batch_summary.';
comment on column app_public.batch_summary_request.state is '`ready` (the summary is here), `pending` (being written: ask again after retry_after_seconds) or `not_finished` (the batch is still running).';
comment on column app_public.batch_summary_request.retry_after_seconds is 'When `pending`: how long to wait before asking again.';
comment on column app_public.batch_summary_request.summary is 'When `ready`: the run summary.';

create function app_private.enqueue_batch_summary(p_batch_id uuid) returns void
language sql volatile security definer set search_path to pg_catalog, pg_temp as $$
  select graphile_worker.add_job('aggregate_batch', json_build_object('batch_id', b.id),
    job_key => 'aggregate_batch:' || b.id, job_key_mode => 'unsafe_dedupe', max_attempts => 10)
  from app_public.batches b where b.id = p_batch_id and app_private.caller_may_see(b.tenant_id);
$$;
comment on function app_private.enqueue_batch_summary(uuid) is
  'Enqueues aggregate_batch for a batch the caller may see, unless a job for it is already waiting.';
grant execute on function app_private.enqueue_batch_summary(uuid) to app_user, app_admin;

create function app_public.request_batch_summary(batch_id uuid) returns app_public.batch_summary_request
language plpgsql volatile as $$
#variable_conflict use_column
declare
  v_batch app_public.batches := app_private.find_batch(request_batch_summary.batch_id);
  v_summary app_public.run_summaries;
begin
  if v_batch.finished_at is null then
    return row('not_finished', null, null)::app_public.batch_summary_request;
  end if;
  select * into v_summary from app_public.run_summaries s where s.batch_id = v_batch.id;
  if v_summary.batch_id is not null then
    return row('ready', null, v_summary)::app_public.batch_summary_request;
  end if;
  perform app_private.enqueue_batch_summary(v_batch.id);
  return row('pending', 2, null)::app_public.batch_summary_request;
end
$$;
comment on function app_public.request_batch_summary(uuid) is
  'The run summary of a batch: `ready` with the summary; `pending` with `retryAfterSeconds` when the batch finished but its summary is still being written (asking enqueues the work if it was lost); `not_finished` while items are still running.';

grant execute on function
  app_public.submit_batch(text, jsonb, jsonb, text, smallint),
  app_public.cancel_batch(uuid),
  app_public.retry_failed_items(uuid),
  app_public.request_batch_summary(uuid)
to app_user, app_admin;

-- Batches newest first, filtered on the server, and a batch's failed items searchable by their
-- error: what the dashboard's lists read.

-- Batches, not their status summaries: filtering, ordering and counting (totalCount) then read
-- batch rows only, and a page's summaries (counters, stuck_reason) are read for its rows alone,
-- through Batch.statusSummary. SQL, stable and not strict, so PostgreSQL inlines it into the
-- query PostGraphile makes, and it runs as the caller: row level security applies.
create function app_public.search_batches(
  kind text default null,
  status text default null,
  tenant_id uuid default null,
  created_after timestamptz default null,
  created_before timestamptz default null
) returns setof app_public.batches
language sql stable as $$
  select b.* from app_public.batches b
  where (search_batches.kind is null or b.kind = search_batches.kind)
    and (search_batches.status is null or b.status = search_batches.status)
    and (search_batches.tenant_id is null or b.tenant_id = search_batches.tenant_id)
    and (search_batches.created_after is null or b.created_at >= search_batches.created_after)
    and (search_batches.created_before is null or b.created_at < search_batches.created_before)
  order by b.created_at desc, b.id desc
$$;
comment on function app_public.search_batches(text, text, uuid, timestamptz, timestamptz) is
  'The batches the caller may see, newest first, each filter applied when given: `kind`, `status` (one of batches.status), `tenantId` (for admins who see several tenants), created at or after `createdAfter` and before `createdBefore`. Each batch''s statusSummary says where it stands.';
grant execute on function app_public.search_batches(text, text, uuid, timestamptz, timestamptz) to app_user, app_admin;

create function app_public.batches_failed_items(batch app_public.batches, error_contains text default null)
returns setof app_public.batch_items
language sql stable as $$
  select i.* from app_public.batch_items i
  where i.batch_id = batch.id and i.status = 'failed'
    and (error_contains is null or strpos(lower(i.last_error), lower(error_contains)) > 0)
  order by i.id
$$;
comment on function app_public.batches_failed_items(app_public.batches, text) is
  'The batch''s failed items in id order, with their last error and attempts; with `errorContains`, only those whose last error contains that text (ignoring case).';
grant execute on function app_public.batches_failed_items(app_public.batches, text) to app_user, app_admin;

-- Up Migration
-- A claimed item comes with its tenant, so a handler can hold what its payload names to that
-- tenant: a payload is written by the tenant, and the worker reads as the tables' owner, past
-- row level security. Without it, an import_catalog item could name another tenant's file.

drop function app_private.start_items(uuid, bigint[], text);
create function app_private.start_items(p_batch_id uuid, p_item_ids bigint[], p_worker_id text)
returns table (id bigint, tenant_id uuid, payload jsonb, attempts integer)
language sql volatile as $$
  update app_public.batch_items i set
    status = 'processing',
    locked_by = p_worker_id,
    attempts = i.attempts + 1,
    started_at = now(),
    run_after = null
  where i.batch_id = p_batch_id
    and i.id = any(p_item_ids)
    and i.status = 'pending'
    and (i.run_after is null or i.run_after <= now())
  returning i.id, i.tenant_id, i.payload, i.attempts
$$;
comment on function app_private.start_items(uuid, bigint[], text) is
  'Claims the chunk''s items that are still pending and due, for one worker, with their tenant and payload; items already claimed, finished or cancelled are skipped, so a job that runs twice does no work twice.';

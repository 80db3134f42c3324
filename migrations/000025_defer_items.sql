-- Up Migration
-- A handler can put its item back to wait until a time it knows, instead of the kind's backoff:
-- a scraped host that answers 429 with Retry-After: 20 is ready in 20 s, and retrying it after
-- 2, 4 and 8 s (each retry held back by the host's pause) spent every attempt before then.

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
    where i.id = any(p_item_ids) and i.status = 'processing' and i.locked_by = p_worker_id
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

-- Up Migration
-- Batch kinds (and which of them tenants may submit), batches, and the per-status counters that
-- make a batch's state cheap to read.

create table app_public.batch_kinds (
  kind text primary key check (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
  description text not null,
  task_identifier text not null,
  chunk_size integer not null default 100 check (chunk_size between 1 and 10000),
  max_attempts integer not null default 3 check (max_attempts between 1 and 100),
  retry_delay interval not null default '2 seconds' check (retry_delay >= interval '0'),
  max_retry_delay interval not null default '5 minutes' check (max_retry_delay >= retry_delay),
  submitted_by_tenants boolean not null default true,
  priority smallint not null default 0 check (priority between -2 and 2)
);
comment on table app_public.batch_kinds is E'@behavior -insert -update -delete\nThe kinds of work a batch can hold, and how their items are run and retried.';
comment on column app_public.batch_kinds.kind is 'The name a batch is submitted with, e.g. `noop` or `import_catalog`.';
comment on column app_public.batch_kinds.description is 'What an item of this kind does, and what its payload carries.';
comment on column app_public.batch_kinds.task_identifier is 'The Graphile Worker task that runs chunks of items of this kind.';
comment on column app_public.batch_kinds.chunk_size is 'How many items one job claims and records in one statement each way.';
comment on column app_public.batch_kinds.max_attempts is 'Attempts per item, the first included, before the item is `failed`.';
comment on column app_public.batch_kinds.retry_delay is 'Backoff before the second attempt; it doubles with each further attempt.';
comment on column app_public.batch_kinds.max_retry_delay is 'The ceiling on the doubling backoff.';
comment on column app_public.batch_kinds.priority is
  'The priority of its batches unless they name one: from -2 (runs first) to 2 (yields to every other); 0 by default. A chunk of a lower number runs before any chunk of a higher one.';
comment on column app_public.batch_kinds.submitted_by_tenants is
  'Whether tenants may submit batches of this kind; false for the kinds only finishline''s own runs start (`score_reviews`, `score_sellers`).';

insert into app_public.batch_kinds (kind, description, task_identifier, chunk_size, max_attempts, retry_delay) values
  ('noop', 'Does nothing, after sleeping `sleep_ms` milliseconds if the payload says so: for smoke checks and benchmarks.', 'noop', 500, 3, '1 second'),
  ('fail', 'Fails with the payload''s `message`; with `fail_times: n` only its first n attempts: for testing retries.', 'fail', 100, 3, '1 second');

grant select on app_public.batch_kinds to app_anonymous, app_user, app_admin;

create table app_public.batches (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default app_public.current_tenant_id()
    references app_public.tenants on delete cascade,
  kind text not null references app_public.batch_kinds,
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'completed', 'completed_with_errors', 'cancelled')),
  total_items integer not null default 0 check (total_items >= 0),
  metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  idempotency_key text check (length(idempotency_key) between 1 and 200),
  request_fingerprint bytea,
  priority smallint check (priority between -2 and 2),
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  items_pruned_at timestamptz,
  unique (tenant_id, idempotency_key),
  -- Lets items reference (batch, tenant) together, so an item can't name another tenant.
  unique (id, tenant_id),
  check ((status in ('completed', 'completed_with_errors', 'cancelled')) = (finished_at is not null)),
  check (status <> 'processing' or started_at is not null),
  check (items_pruned_at is null or finished_at is not null)
) with (vacuum_truncate = false);
create index batches_tenant_id_created_at_idx on app_public.batches (tenant_id, created_at desc);
create index batches_unfinished_idx on app_public.batches (status) where finished_at is null;
create index batches_kind_idx on app_public.batches (kind);
-- Finished batches by age, for prune_finished_batches: those whose items are kept (whose items
-- may be past their retention), and those whose items are gone (which may be past theirs).
create index batches_items_kept_finished_at_idx on app_public.batches (finished_at)
  where finished_at is not null and items_pruned_at is null;
create index batches_items_pruned_finished_at_idx on app_public.batches (finished_at)
  where items_pruned_at is not null;
-- Newest first across tenants (the installation's operator's list); a tenant's list is served by
-- batches_tenant_id_created_at_idx.
create index batches_created_at_id_idx on app_public.batches (created_at desc, id desc);
comment on table app_public.batches is E'@behavior -insert -update -delete\nA unit of work made of items; it finishes by itself when its last item reaches a terminal state. Submit one with submitBatch.';
comment on constraint batches_tenant_id_fkey on app_public.batches is E'@fieldName tenant\n@foreignFieldName batches';
comment on constraint batches_kind_fkey on app_public.batches is E'@fieldName batchKind\n@foreignFieldName batches';
-- Only there for the items' foreign key; batchById is the lookup.
comment on constraint batches_id_tenant_id_key on app_public.batches is E'@behavior -single';
comment on column app_public.batches.id is 'The batch''s id.';
comment on column app_public.batches.tenant_id is 'The tenant that owns the batch.';
comment on column app_public.batches.kind is 'What its items do; one of `batch_kinds`.';
comment on column app_public.batches.status is '`pending` until an item starts, `processing` while items run, then `completed`, `completed_with_errors` (some items failed) or `cancelled`.';
comment on column app_public.batches.total_items is 'How many items the batch holds.';
comment on column app_public.batches.metadata is 'Free-form JSON object given at submission.';
comment on column app_public.batches.idempotency_key is 'Submitting again with the same key returns this batch instead of creating another (unique per tenant).';
comment on column app_public.batches.request_fingerprint is
  E'@behavior -*\nThe SHA-256 of the submission that used `idempotency_key` (its kind, items, metadata and priority), set by submit_batch: the key sent again with another request is refused (FLIDM) rather than answered with this batch.';
comment on column app_public.batches.priority is 'Its priority, from -2 (runs first) to 2; null for its kind''s.';
comment on column app_public.batches.created_at is 'When the batch was submitted.';
comment on column app_public.batches.started_at is 'When its first item started.';
comment on column app_public.batches.finished_at is 'When its last item reached a terminal state.';
comment on column app_public.batches.items_pruned_at is
  'When its items were removed, past the items'' retention (prune_finished_batches); null while they are kept. The batch keeps its counts, status, times and run summary; its items, with their payloads, results and errors, are gone, so they cannot be retried (FLPRN).';

-- Some kinds are started by finishline's own runs, never submitted by a tenant: the scoring
-- kinds' items name reviews and sellers by id, and the worker reads and writes those rows past
-- row level security, so a tenant who could submit one could have another tenant's reviews scored
-- and read their counts in its results. Refused here, for submit_batch and plain SQL alike.
create function app_private.tg_batches__refuse_run_only_kinds() returns trigger
language plpgsql stable as $$
begin
  if pg_has_role(current_user, 'app_user', 'usage') and not app_public.current_user_is_admin()
     and not (select k.submitted_by_tenants from app_public.batch_kinds k where k.kind = new.kind) then
    raise exception 'batches of kind "%" are started by finishline''s scoring runs, not submitted', new.kind
      using errcode = 'FLRUN', hint = 'An admin starts a run with triggerReviewScoring or triggerSellerScoring.';
  end if;
  return new;
end
$$;
comment on function app_private.tg_batches__refuse_run_only_kinds() is
  'Refuses a tenant''s batch of a kind that only finishline''s own runs start (batch_kinds.submitted_by_tenants is false).';
create trigger _040_refuse_run_only_kinds before insert on app_public.batches
  for each row execute function app_private.tg_batches__refuse_run_only_kinds();

-- A batch's counters are spread over slots, one per database session that touched them (by
-- backend pid): transactions finishing the items of one batch at once add to different rows, so no
-- chunk waits for another's counter row (see apply_status_deltas for how exactly one of them still
-- finalizes the batch). Slot 0 is made with the batch and carries its seal.
create table app_private.batch_counter_slots (
  batch_id uuid not null references app_public.batches on delete cascade,
  slot smallint not null check (slot >= 0),
  pending_items integer not null default 0,
  processing_items integer not null default 0,
  succeeded_items integer not null default 0,
  failed_items integer not null default 0,
  cancelled_items integer not null default 0,
  last_item_finished_at timestamptz,
  sealed boolean not null default false,
  counters_checked_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (batch_id, slot)
) with (vacuum_truncate = false);
comment on table app_private.batch_counter_slots is
  'Items per outcome for each batch, in slots that sum to its counts (read them summed: batch_counters). Kept by statement-level triggers on batch_items, each statement adding to the slot of its session. The sweeper checks them against the items.';
comment on column app_private.batch_counter_slots.batch_id is 'The batch counted.';
comment on column app_private.batch_counter_slots.slot is 'Which slot: 0 is made with the batch; the others by the sessions that finish its items (counter_slot).';
comment on column app_private.batch_counter_slots.pending_items is 'Items waiting to run, counted in this slot (may be negative in a slot: only the sum is a count).';
comment on column app_private.batch_counter_slots.processing_items is 'Items held by a worker, counted in this slot (may be negative in a slot).';
comment on column app_private.batch_counter_slots.succeeded_items is 'Items that succeeded, counted in this slot.';
comment on column app_private.batch_counter_slots.failed_items is 'Items that failed after their last attempt (or for good), counted in this slot.';
comment on column app_private.batch_counter_slots.cancelled_items is 'Items cancelled, counted in this slot.';
comment on column app_private.batch_counter_slots.last_item_finished_at is 'When an item counted in this slot last reached a terminal state.';
comment on column app_private.batch_counter_slots.sealed is
  'On slot 0: set when the transaction that created the batch commits. From then on its item list is complete, so the batch may finalize, and no item may be added.';
comment on column app_private.batch_counter_slots.counters_checked_at is
  'On slot 0: when a sweep found the finished batch''s counters agree with its items. A finished batch''s counts are its record, so it is checked once after it finishes (again if it is reopened and finishes again), not at every sweep.';
comment on column app_private.batch_counter_slots.updated_at is 'When this slot last moved.';

create function app_private.counter_slot() returns smallint
language sql volatile parallel safe as $$
  select (pg_backend_pid() % 32)::smallint
$$;
comment on function app_private.counter_slot() is
  'The counter slot of this database session: two sessions rarely share one, and one session never runs two transactions at once.';

create view app_private.batch_counters with (security_invoker = true) as
select
  batch_id,
  sum(pending_items)::integer as pending_items,
  sum(processing_items)::integer as processing_items,
  sum(succeeded_items)::integer as succeeded_items,
  sum(failed_items)::integer as failed_items,
  sum(cancelled_items)::integer as cancelled_items,
  max(last_item_finished_at) as last_item_finished_at,
  bool_or(sealed) as sealed,
  max(updated_at) as updated_at
from app_private.batch_counter_slots
group by batch_id;
comment on view app_private.batch_counters is 'Items per outcome for each batch: its counter slots summed.';
comment on column app_private.batch_counters.batch_id is 'The batch counted.';
comment on column app_private.batch_counters.pending_items is 'Its items waiting to run (including those waiting out a retry''s backoff).';
comment on column app_private.batch_counters.processing_items is 'Its items held by a worker now.';
comment on column app_private.batch_counters.succeeded_items is 'Its items that succeeded.';
comment on column app_private.batch_counters.failed_items is 'Its items that failed after their last attempt (or for good).';
comment on column app_private.batch_counters.cancelled_items is 'Its items cancelled.';
comment on column app_private.batch_counters.last_item_finished_at is 'When an item of the batch last reached a terminal state.';
comment on column app_private.batch_counters.sealed is 'Whether its item list is complete (see batch_counter_slots.sealed).';
comment on column app_private.batch_counters.updated_at is 'When its counters last moved: the batch''s last sign of progress.';

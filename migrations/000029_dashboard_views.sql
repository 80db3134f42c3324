-- Up Migration
-- What the dashboard (web/) reads through GraphQL beyond the batch API: a paged batch search,
-- a batch's failed items searchable by error, and, for the installation's operator only, the
-- workers, the queue and the sweeper's recent repairs. Also the one-time sign-in codes that
-- `npm start` prints as a link.
--
-- Who sees what: batches and items through row level security, as everywhere. Workers, the queue
-- and the sweeper's log are the installation's, shared by every tenant: only an admin token
-- without a tenant_id (the installation's operator) reads them; a tenant's admin or operator gets
-- no rows (app_public.current_user_sees_all_tenants() decides). They live in app_private and
-- graphile_worker, so the views read them through security definer functions that check the
-- caller themselves.

-- 1. Batches, newest first, filtered on the server.

-- Newest first across tenants (the installation's operator); a tenant's are served by
-- batches_tenant_id_created_at_idx.
create index batches_created_at_id_idx on app_public.batches (created_at desc, id desc);

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

-- 2. A batch's failed items, searchable by their error.

-- Small (failed items only): a batch's page counts and pages its failed items without reading
-- the others, in a batch of 100,000 items as in one of ten.
create index batch_items_failed_idx on app_public.batch_items (batch_id, id) where status = 'failed';

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

-- 3. Workers, for the installation's operator.

create function app_private.workers_seen_by_caller()
returns table (
  id text, hostname text, pid integer, concurrency integer, started_at timestamptz,
  last_seen_at timestamptz, is_alive boolean, processing_items bigint
)
language sql stable security definer set search_path to pg_catalog, pg_temp as $$
  select w.id, w.hostname, w.pid, w.concurrency, w.started_at, w.last_seen_at,
    w.last_seen_at >= now() - app_private.worker_stale_after(),
    (select count(*) from app_public.batch_items i where i.status = 'processing' and i.locked_by = w.id)
  from app_private.workers w
  where app_public.current_user_sees_all_tenants()
$$;
comment on function app_private.workers_seen_by_caller() is
  'The worker heartbeats, for the installation''s operator only (no rows for anyone else): the body of the view app_public.workers.';
grant execute on function app_private.workers_seen_by_caller() to app_admin;

create view app_public.workers with (security_invoker = true) as
select * from app_private.workers_seen_by_caller();
comment on view app_public.workers is E'@primaryKey id\n@behavior -insert -update -delete -connection +list\nWorker processes with a heartbeat row, the living and those the sweeper has yet to remove (installation''s operator only: an admin token without tenant_id; no rows for anyone else).';
comment on column app_public.workers.id is 'The worker pool''s id (the `locked_by` of its jobs and items).';
comment on column app_public.workers.hostname is 'Where it runs.';
comment on column app_public.workers.pid is 'Its process id there.';
comment on column app_public.workers.concurrency is 'How many jobs it runs at once.';
comment on column app_public.workers.started_at is 'When it started.';
comment on column app_public.workers.last_seen_at is 'Its last heartbeat.';
comment on column app_public.workers.is_alive is 'Whether that heartbeat is fresh (within finishline.worker_stale_after, 30 s by default). A worker that is not alive has stopped; the sweeper gives its items back and removes it.';
comment on column app_public.workers.processing_items is 'Batch items it holds now.';
grant select on app_public.workers to app_admin;

-- 4. The queue by task, for the installation's operator.

create function app_private.task_queues_seen_by_caller()
returns table (
  task_identifier text, runnable_jobs bigint, oldest_runnable_at timestamptz,
  oldest_runnable_age_seconds numeric, running_jobs bigint, scheduled_jobs bigint, failed_jobs bigint
)
language sql stable security definer set search_path to pg_catalog, pg_temp as $$
  select j.task_identifier,
    count(*) filter (where j.run_at <= now() and j.locked_at is null and j.attempts < j.max_attempts),
    min(j.run_at) filter (where j.run_at <= now() and j.locked_at is null and j.attempts < j.max_attempts),
    round(extract(epoch from now() - min(j.run_at) filter (
      where j.run_at <= now() and j.locked_at is null and j.attempts < j.max_attempts)), 1),
    count(*) filter (where j.locked_at is not null),
    count(*) filter (where j.run_at > now() and j.locked_at is null and j.attempts < j.max_attempts),
    count(*) filter (where j.attempts >= j.max_attempts)
  from graphile_worker.jobs j
  where app_public.current_user_sees_all_tenants()
  group by j.task_identifier
$$;
comment on function app_private.task_queues_seen_by_caller() is
  'Graphile Worker''s jobs counted by task, for the installation''s operator only (no rows for anyone else): the body of the view app_public.task_queues.';
grant execute on function app_private.task_queues_seen_by_caller() to app_admin;

create view app_public.task_queues with (security_invoker = true) as
select * from app_private.task_queues_seen_by_caller();
comment on view app_public.task_queues is E'@primaryKey task_identifier\n@behavior -insert -update -delete -connection +list\nGraphile Worker''s queue, one row per task that has jobs (installation''s operator only: an admin token without tenant_id; no rows for anyone else). A batch''s items run as jobs of its kind''s task, a chunk of items a job.';
comment on column app_public.task_queues.task_identifier is 'The task.';
comment on column app_public.task_queues.runnable_jobs is 'Jobs that could run now and wait for a worker.';
comment on column app_public.task_queues.oldest_runnable_at is 'Since when the oldest of those could run.';
comment on column app_public.task_queues.oldest_runnable_age_seconds is 'How long the oldest of those has waited, in seconds: a figure that keeps growing means the workers do not keep up (or none runs).';
comment on column app_public.task_queues.running_jobs is 'Jobs a worker holds now.';
comment on column app_public.task_queues.scheduled_jobs is 'Jobs waiting for their time (a retry''s backoff, a debounce).';
comment on column app_public.task_queues.failed_jobs is 'Jobs that used all their attempts and stay in the queue for inspection.';
grant select on app_public.task_queues to app_admin;

-- 5. The sweeper's repairs of the last day, for the installation's operator.

create function app_private.recent_sweeper_repairs_seen_by_caller()
returns setof app_private.sweeper_repairs
language sql stable security definer set search_path to pg_catalog, pg_temp as $$
  select r.* from app_private.sweeper_repairs r
  where r.repaired_at > now() - interval '1 day' and app_public.current_user_sees_all_tenants()
  order by r.repaired_at desc, r.id desc
$$;
comment on function app_private.recent_sweeper_repairs_seen_by_caller() is
  'The sweeper''s repairs of the last 24 hours, newest first, for the installation''s operator only (no rows for anyone else): the body of the view app_public.recent_sweeper_repairs.';
grant execute on function app_private.recent_sweeper_repairs_seen_by_caller() to app_admin;

create view app_public.recent_sweeper_repairs with (security_invoker = true) as
select * from app_private.recent_sweeper_repairs_seen_by_caller();
comment on view app_public.recent_sweeper_repairs is E'@primaryKey id\n@behavior -insert -update -delete -aggregates\nWhat the sweeper repaired in the last 24 hours (installation''s operator only: an admin token without tenant_id; no rows for anyone else). Each repair means a worker crashed or something was damaged.';
comment on column app_public.recent_sweeper_repairs.id is 'The repair''s id.';
comment on column app_public.recent_sweeper_repairs.repaired_at is 'When it was made.';
comment on column app_public.recent_sweeper_repairs.repair is '`released_items` (items of a dead worker back in the queue), `removed_dead_worker`, `corrected_counters`, `enqueued_summary` (a finished batch had no summary nor a job for one), `enqueued_orphaned_items` (pending items had no job).';
comment on column app_public.recent_sweeper_repairs.batch_id is 'The batch repaired, if any.';
comment on column app_public.recent_sweeper_repairs.worker_id is 'The dead worker concerned, if any.';
comment on column app_public.recent_sweeper_repairs.details is 'What was found and what was done.';
grant select on app_public.recent_sweeper_repairs to app_admin;

-- 6. One-time sign-in codes: `npm start` prints a link with one; the dashboard redeems it
-- through the GraphQL mutation redeemSignInCode, which signs the token (the JWT secret is the
-- server's, never the database's).

create table app_private.sign_in_codes (
  code_hash bytea primary key,
  role text not null check (role in ('app_user', 'app_admin')),
  tenant_id uuid references app_public.tenants on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  redeemed_at timestamptz,
  check (role = 'app_admin' or tenant_id is not null)
);
comment on table app_private.sign_in_codes is
  'Sign-in links that work once: the SHA-256 of each code (the code itself is only in the link), who it signs in as, and until when.';
comment on column app_private.sign_in_codes.code_hash is 'SHA-256 of the code.';
comment on column app_private.sign_in_codes.role is 'The role of the token the code is exchanged for.';
comment on column app_private.sign_in_codes.tenant_id is 'The tenant of that token (none: the installation''s operator).';
comment on column app_private.sign_in_codes.created_at is 'When the code was made.';
comment on column app_private.sign_in_codes.expires_at is 'After this the code signs no one in.';
comment on column app_private.sign_in_codes.redeemed_at is 'When it was used; a code is used once.';

create function app_private.redeem_sign_in_code(p_code text)
returns table (role text, tenant_id uuid)
language sql volatile security definer set search_path to pg_catalog, pg_temp as $$
  update app_private.sign_in_codes c set redeemed_at = now()
  where c.code_hash = sha256(convert_to(p_code, 'UTF8')) and c.redeemed_at is null and c.expires_at > now()
  returning c.role, c.tenant_id
$$;
comment on function app_private.redeem_sign_in_code(text) is
  'Marks a sign-in code used and returns whom it signs in as; no row for a code that is unknown, used or expired. Anyone may try a code (it is the secret: 256 random bits).';
-- A sign-in comes without a token, so as app_anonymous.
grant execute on function app_private.redeem_sign_in_code(text) to app_anonymous, app_user, app_admin, app_seller, app_shopper;

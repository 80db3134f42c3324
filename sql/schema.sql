-- finishline's database schema on PostgreSQL 15: pg_dump --schema-only --no-owner of app_public and app_private
-- after every migration, without the lines that differ between two dumps of the same schema.
-- Written by `npm run schema:sql` (TEST_DATABASE_URL or DATABASE_URL naming a server of that
-- version); test/schema.dump.test.ts fails when it is stale. Read it, never edit it: the
-- migrations are the source.

--
-- PostgreSQL database dump
--



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: app_private; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA app_private;


--
-- Name: SCHEMA app_private; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA app_private IS 'Internal state of finishline (counters, worker heartbeats, sweeper log); never exposed.';


--
-- Name: app_public; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA app_public;


--
-- Name: SCHEMA app_public; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA app_public IS 'Everything clients see through GraphQL.';


--
-- Name: batch_item_ids; Type: TYPE; Schema: app_private; Owner: -
--

CREATE TYPE app_private.batch_item_ids AS (
	batch_id uuid,
	item_ids bigint[]
);


--
-- Name: TYPE batch_item_ids; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TYPE app_private.batch_item_ids IS 'Items of one batch by id, in the order they should run (ascending): what enqueue_items cuts into chunks.';


--
-- Name: claimed_item; Type: TYPE; Schema: app_private; Owner: -
--

CREATE TYPE app_private.claimed_item AS (
	id bigint,
	tenant_id uuid,
	payload jsonb,
	attempts integer
);


--
-- Name: TYPE claimed_item; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TYPE app_private.claimed_item IS 'An item a worker claimed: what its handler needs.';


--
-- Name: status_delta; Type: TYPE; Schema: app_private; Owner: -
--

CREATE TYPE app_private.status_delta AS (
	batch_id uuid,
	pending integer,
	processing integer,
	succeeded integer,
	failed integer,
	cancelled integer,
	last_finished_at timestamp with time zone
);


--
-- Name: TYPE status_delta; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TYPE app_private.status_delta IS 'How one statement changed the item counts of one batch, by status (negative when items left a status), and when the last item it finished finished.';


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: run_summaries; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.run_summaries (
    batch_id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    kind text NOT NULL,
    status text NOT NULL,
    total_items integer NOT NULL,
    succeeded_items integer NOT NULL,
    failed_items integer NOT NULL,
    cancelled_items integer NOT NULL,
    duration_seconds numeric NOT NULL,
    errors jsonb DEFAULT '[]'::jsonb NOT NULL,
    stats jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT run_summaries_duration_seconds_check CHECK ((duration_seconds >= (0)::numeric)),
    CONSTRAINT run_summaries_errors_check CHECK ((jsonb_typeof(errors) = 'array'::text)),
    CONSTRAINT run_summaries_stats_check CHECK ((jsonb_typeof(stats) = 'object'::text)),
    CONSTRAINT run_summaries_status_check CHECK ((status = ANY (ARRAY['completed'::text, 'completed_with_errors'::text, 'cancelled'::text])))
)
WITH (vacuum_truncate='false');


--
-- Name: TABLE run_summaries; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.run_summaries IS '@behavior -insert -update -delete
What a finished batch did: one row per finished batch, written by the aggregate_batch task.';


--
-- Name: COLUMN run_summaries.batch_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.run_summaries.batch_id IS 'The batch summarised.';


--
-- Name: COLUMN run_summaries.tenant_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.run_summaries.tenant_id IS 'The tenant that owns the batch.';


--
-- Name: COLUMN run_summaries.kind; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.run_summaries.kind IS 'The batch''s kind.';


--
-- Name: COLUMN run_summaries.status; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.run_summaries.status IS 'The batch''s terminal status.';


--
-- Name: COLUMN run_summaries.total_items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.run_summaries.total_items IS 'Items in the batch.';


--
-- Name: COLUMN run_summaries.succeeded_items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.run_summaries.succeeded_items IS 'Items that succeeded.';


--
-- Name: COLUMN run_summaries.failed_items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.run_summaries.failed_items IS 'Items that failed after their last attempt.';


--
-- Name: COLUMN run_summaries.cancelled_items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.run_summaries.cancelled_items IS 'Items cancelled before they finished.';


--
-- Name: COLUMN run_summaries.duration_seconds; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.run_summaries.duration_seconds IS 'From the first item''s start (or the submission, if none started) to the last item''s end.';


--
-- Name: COLUMN run_summaries.errors; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.run_summaries.errors IS 'Distinct error messages of failed items with their counts, most frequent first (at most 100): `[{"message", "count"}]`.';


--
-- Name: COLUMN run_summaries.stats; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.run_summaries.stats IS 'Kind-specific totals: each numeric field of the items'' results summed (one level of nested objects too, e.g. rejections by reason); array fields concatenated, the first 100 elements (e.g. rejected rows with file, line and reason).';


--
-- Name: COLUMN run_summaries.created_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.run_summaries.created_at IS 'When the summary was written.';


--
-- Name: batch_summary_request; Type: TYPE; Schema: app_public; Owner: -
--

CREATE TYPE app_public.batch_summary_request AS (
	state text,
	retry_after_seconds integer,
	summary app_public.run_summaries
);


--
-- Name: TYPE batch_summary_request; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TYPE app_public.batch_summary_request IS 'The answer to request_batch_summary.';


--
-- Name: COLUMN batch_summary_request.state; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_summary_request.state IS '`ready` (the summary is here), `pending` (being written: ask again after retry_after_seconds) or `not_finished` (the batch is still running).';


--
-- Name: COLUMN batch_summary_request.retry_after_seconds; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_summary_request.retry_after_seconds IS 'When `pending`: how long to wait before asking again.';


--
-- Name: COLUMN batch_summary_request.summary; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_summary_request.summary IS 'When `ready`: the run summary.';


--
-- Name: pruned_rows; Type: TYPE; Schema: app_public; Owner: -
--

CREATE TYPE app_public.pruned_rows AS (
	items bigint,
	batches_emptied integer,
	batches bigint,
	run_summaries bigint,
	catalog_file_chunks bigint,
	catalog_files_emptied integer,
	sweeper_repairs bigint,
	more boolean
);


--
-- Name: TYPE pruned_rows; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TYPE app_public.pruned_rows IS 'What one call of prune_finished_batches removed.';


--
-- Name: COLUMN pruned_rows.items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.pruned_rows.items IS 'Batch items removed.';


--
-- Name: COLUMN pruned_rows.batches_emptied; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.pruned_rows.batches_emptied IS 'Batches whose last items went in this call.';


--
-- Name: COLUMN pruned_rows.batches; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.pruned_rows.batches IS 'Batches removed (their counters went with them).';


--
-- Name: COLUMN pruned_rows.run_summaries; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.pruned_rows.run_summaries IS 'Run summaries removed with their batches.';


--
-- Name: COLUMN pruned_rows.catalog_file_chunks; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.pruned_rows.catalog_file_chunks IS 'Pieces of catalog files removed (about 1 MB each).';


--
-- Name: COLUMN pruned_rows.catalog_files_emptied; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.pruned_rows.catalog_files_emptied IS 'Catalog files whose content was removed in this call (their rows stay, with content_removed_at).';


--
-- Name: COLUMN pruned_rows.sweeper_repairs; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.pruned_rows.sweeper_repairs IS 'Entries of the sweeper''s log removed.';


--
-- Name: COLUMN pruned_rows.more; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.pruned_rows.more IS 'True when the call used its whole budget (max_rows): call again, in a new transaction, until it is false.';


--
-- Name: acquire_host_lease(text, integer, text, interval); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.acquire_host_lease(p_host text, p_max_per_host integer, p_holder text, p_ttl interval) RETURNS TABLE(slot integer, wait_ms integer, cooldown_until timestamp with time zone)
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
declare
  v_until timestamptz;
  v_slot integer;
begin
  select c.until into v_until from app_private.host_cooldowns c where c.host = p_host and c.until > clock_timestamp();
  if found then
    return query select null::integer, ceil(extract(epoch from v_until - clock_timestamp()) * 1000)::integer, v_until;
    return;
  end if;
  for v_slot in 1..p_max_per_host loop
    -- Free, or held by a lease that lapsed. Two workers racing for one slot: the second waits
    -- for the first's commit, sees a live lease, and moves on to the next slot.
    insert into app_private.host_leases as l (host, slot, holder, expires_at)
    values (p_host, v_slot, p_holder, clock_timestamp() + p_ttl)
    on conflict on constraint host_leases_pkey do update
      set holder = excluded.holder, expires_at = excluded.expires_at
      where l.expires_at <= clock_timestamp();
    if found then
      return query select v_slot, null::integer, null::timestamptz;
      return;
    end if;
  end loop;
  return query select null::integer, null::integer, null::timestamptz;
end
$$;


--
-- Name: FUNCTION acquire_host_lease(p_host text, p_max_per_host integer, p_holder text, p_ttl interval); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.acquire_host_lease(p_host text, p_max_per_host integer, p_holder text, p_ttl interval) IS 'Takes a free slot of the host for p_holder for at most p_ttl: returns (slot, null, null). When the host is cooling down (Retry-After), returns (null, milliseconds left, when it ends); when all p_max_per_host slots are busy, (null, null, null): wait a little and ask again. Call it outside any longer transaction, so that other workers see the slot taken at once.';


--
-- Name: advance_items(text, uuid, bigint[], jsonb); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.advance_items(p_worker_id text, p_batch_id uuid, p_claim_ids bigint[], p_outcomes jsonb) RETURNS TABLE(id bigint, tenant_id uuid, payload jsonb, attempts integer, recorded integer, batch_to_finalize uuid)
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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


--
-- Name: FUNCTION advance_items(p_worker_id text, p_batch_id uuid, p_claim_ids bigint[], p_outcomes jsonb); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.advance_items(p_worker_id text, p_batch_id uuid, p_claim_ids bigint[], p_outcomes jsonb) IS 'A worker''s step on a batch, in one statement: claims the items of p_claim_ids that are still pending and due, and records the outcomes `[{id, error, result, permanent}]` of items it holds. Returns a row per claimed item (its id, tenant, payload and attempt), and per item the worker holds already (its claim''s answer was lost), with its attempt unchanged; items finished, cancelled or held by another worker are skipped, so a job that runs twice does no work twice. An outcome with no error → succeeded; with an error → pending again after a doubling backoff (the update trigger enqueues its retry), or failed after the kind''s last attempt or when `permanent`. A last row, with no item, says how many outcomes it recorded, and the batch the caller should finalize (app_private.finalize_batch) once this transaction has committed, when other transactions were finishing its last items at the same time (settle_batch_if_alone; its finalize_batch job would do it too, a little later).';


--
-- Name: apply_status_deltas(app_private.status_delta[]); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.apply_status_deltas(p_deltas app_private.status_delta[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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


--
-- Name: FUNCTION apply_status_deltas(p_deltas app_private.status_delta[]); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.apply_status_deltas(p_deltas app_private.status_delta[]) IS 'Adds item status changes (one delta per batch, in batch_id order) to the batches'' counters (each session in its own slot), finalizes each batch whose last items they were (exactly once: see the comment above it), and notifies its progress channel when its status changes or its done items cross a whole percent.';


--
-- Name: batch_has_pending_item(uuid, boolean); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.batch_has_pending_item(p_batch_id uuid, p_due_only boolean) RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
begin
  return exists (
    select 1 from app_public.batch_items i
    where i.batch_id = p_batch_id and i.status = 'pending'
      and (not p_due_only or i.run_after is null or i.run_after <= now()));
end
$$;


--
-- Name: FUNCTION batch_has_pending_item(p_batch_id uuid, p_due_only boolean); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.batch_has_pending_item(p_batch_id uuid, p_due_only boolean) IS 'Whether the batch has a pending item (with p_due_only, one whose retry time has come).';


--
-- Name: batch_has_runnable_job(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.batch_has_runnable_job(p_batch_id uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE
    AS $$
begin
  return exists (
    select 1 from app_private.chunk_jobs c
    join graphile_worker.jobs j on j.id = c.job_id
    where c.batch_id = p_batch_id and j.attempts < j.max_attempts
  );
end
$$;


--
-- Name: FUNCTION batch_has_runnable_job(p_batch_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.batch_has_runnable_job(p_batch_id uuid) IS 'Whether a job enqueued for the batch''s items is still queued or running (not failed for good). Jobs of other batches, even of the same task, do not count.';


--
-- Name: batch_counter_slots; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.batch_counter_slots (
    batch_id uuid NOT NULL,
    slot smallint NOT NULL,
    pending_items integer DEFAULT 0 NOT NULL,
    processing_items integer DEFAULT 0 NOT NULL,
    succeeded_items integer DEFAULT 0 NOT NULL,
    failed_items integer DEFAULT 0 NOT NULL,
    cancelled_items integer DEFAULT 0 NOT NULL,
    last_item_finished_at timestamp with time zone,
    sealed boolean DEFAULT false NOT NULL,
    counters_checked_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT batch_counter_slots_slot_check CHECK ((slot >= 0))
)
WITH (vacuum_truncate='false');


--
-- Name: TABLE batch_counter_slots; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.batch_counter_slots IS 'Items per outcome for each batch, in slots that sum to its counts (read them summed: batch_counters). Kept by statement-level triggers on batch_items, each statement adding to the slot of its session. The sweeper checks them against the items.';


--
-- Name: COLUMN batch_counter_slots.batch_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counter_slots.batch_id IS 'The batch counted.';


--
-- Name: COLUMN batch_counter_slots.slot; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counter_slots.slot IS 'Which slot: 0 is made with the batch; the others by the sessions that finish its items (counter_slot).';


--
-- Name: COLUMN batch_counter_slots.pending_items; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counter_slots.pending_items IS 'Items waiting to run, counted in this slot (may be negative in a slot: only the sum is a count).';


--
-- Name: COLUMN batch_counter_slots.processing_items; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counter_slots.processing_items IS 'Items held by a worker, counted in this slot (may be negative in a slot).';


--
-- Name: COLUMN batch_counter_slots.succeeded_items; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counter_slots.succeeded_items IS 'Items that succeeded, counted in this slot.';


--
-- Name: COLUMN batch_counter_slots.failed_items; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counter_slots.failed_items IS 'Items that failed after their last attempt (or for good), counted in this slot.';


--
-- Name: COLUMN batch_counter_slots.cancelled_items; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counter_slots.cancelled_items IS 'Items cancelled, counted in this slot.';


--
-- Name: COLUMN batch_counter_slots.last_item_finished_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counter_slots.last_item_finished_at IS 'When an item counted in this slot last reached a terminal state.';


--
-- Name: COLUMN batch_counter_slots.sealed; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counter_slots.sealed IS 'On slot 0: set when the transaction that created the batch commits. From then on its item list is complete, so the batch may finalize, and no item may be added.';


--
-- Name: COLUMN batch_counter_slots.counters_checked_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counter_slots.counters_checked_at IS 'On slot 0: when a sweep found the finished batch''s counters agree with its items. A finished batch''s counts are its record, so it is checked once after it finishes (again if it is reopened and finishes again), not at every sweep.';


--
-- Name: COLUMN batch_counter_slots.updated_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counter_slots.updated_at IS 'When this slot last moved.';


--
-- Name: batch_counters; Type: VIEW; Schema: app_private; Owner: -
--

CREATE VIEW app_private.batch_counters WITH (security_invoker='true') AS
 SELECT batch_counter_slots.batch_id,
    (sum(batch_counter_slots.pending_items))::integer AS pending_items,
    (sum(batch_counter_slots.processing_items))::integer AS processing_items,
    (sum(batch_counter_slots.succeeded_items))::integer AS succeeded_items,
    (sum(batch_counter_slots.failed_items))::integer AS failed_items,
    (sum(batch_counter_slots.cancelled_items))::integer AS cancelled_items,
    max(batch_counter_slots.last_item_finished_at) AS last_item_finished_at,
    bool_or(batch_counter_slots.sealed) AS sealed,
    max(batch_counter_slots.updated_at) AS updated_at
   FROM app_private.batch_counter_slots
  GROUP BY batch_counter_slots.batch_id;


--
-- Name: VIEW batch_counters; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON VIEW app_private.batch_counters IS 'Items per outcome for each batch: its counter slots summed.';


--
-- Name: COLUMN batch_counters.batch_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counters.batch_id IS 'The batch counted.';


--
-- Name: COLUMN batch_counters.pending_items; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counters.pending_items IS 'Its items waiting to run (including those waiting out a retry''s backoff).';


--
-- Name: COLUMN batch_counters.processing_items; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counters.processing_items IS 'Its items held by a worker now.';


--
-- Name: COLUMN batch_counters.succeeded_items; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counters.succeeded_items IS 'Its items that succeeded.';


--
-- Name: COLUMN batch_counters.failed_items; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counters.failed_items IS 'Its items that failed after their last attempt (or for good).';


--
-- Name: COLUMN batch_counters.cancelled_items; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counters.cancelled_items IS 'Its items cancelled.';


--
-- Name: COLUMN batch_counters.last_item_finished_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counters.last_item_finished_at IS 'When an item of the batch last reached a terminal state.';


--
-- Name: COLUMN batch_counters.sealed; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counters.sealed IS 'Whether its item list is complete (see batch_counter_slots.sealed).';


--
-- Name: COLUMN batch_counters.updated_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batch_counters.updated_at IS 'When its counters last moved: the batch''s last sign of progress.';


--
-- Name: batch_status_for(app_private.batch_counters, boolean); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.batch_status_for(c app_private.batch_counters, p_started boolean) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select case
    when c.sealed and c.pending_items + c.processing_items = 0 then
      case when c.cancelled_items > 0 then 'cancelled'
           when c.failed_items > 0 then 'completed_with_errors'
           else 'completed' end
    when p_started or c.succeeded_items + c.failed_items + c.cancelled_items > 0 then 'processing'
    else 'pending'
  end
$$;


--
-- Name: FUNCTION batch_status_for(c app_private.batch_counters, p_started boolean); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.batch_status_for(c app_private.batch_counters, p_started boolean) IS 'The one rule for a batch''s status: terminal once its item list is sealed and no item is pending or processing (cancelled if any item was cancelled, completed_with_errors if any failed), processing once an item started (advance_items marks the batch started) or finished, else pending.';


--
-- Name: batch_stuck_reason(uuid, integer, integer, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.batch_stuck_reason(p_batch_id uuid, p_pending_items integer, p_processing_items integer, p_updated_at timestamp with time zone, p_finished_at timestamp with time zone) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
begin
  return (
    select case
      when not exists (select 1 from app_public.batches b where b.id = p_batch_id and app_private.caller_may_see(b.tenant_id))
        then null
      -- A finished batch whose summary is not written (the view asks only then).
      when p_finished_at is not null and exists (
        select 1 from graphile_worker.jobs j
        where j.key = 'aggregate_batch:' || p_batch_id and j.locked_by is not null and not app_private.worker_is_alive(j.locked_by))
        then 'summary_held_by_dead_worker'
      when p_finished_at is not null and not exists (
        select 1 from graphile_worker.jobs j where j.key = 'aggregate_batch:' || p_batch_id and j.attempts < j.max_attempts)
        then 'summary_not_enqueued'
      when p_finished_at is not null
        then null
      when not exists (select 1 from app_private.workers w where app_private.worker_is_alive(w.id))
        then 'no_worker_alive'
      -- The batch's items are read only when a heartbeat row shows a dead worker: no index leads
      -- to the items a worker holds (see batch_items).
      when p_processing_items > 0 and exists (
        select 1 from app_private.workers w
        where not app_private.worker_is_alive(w.id)
          and exists (select 1 from app_public.batch_items i where i.batch_id = p_batch_id and i.locked_by = w.id))
        then 'items_held_by_dead_worker'
      when p_pending_items > 0 and p_processing_items = 0 and exists (
        select 1 from app_private.chunk_jobs c join graphile_worker.jobs j on j.id = c.job_id
        where c.batch_id = p_batch_id and j.locked_by is not null and not app_private.worker_is_alive(j.locked_by))
        then 'jobs_held_by_dead_worker'
      when p_pending_items > 0 and p_processing_items = 0 and not app_private.batch_has_pending_item(p_batch_id, false)
        then 'counters_out_of_date'
      when p_pending_items > 0 and p_processing_items = 0 and not app_private.batch_has_pending_item(p_batch_id, true)
        then 'waiting_for_retry_backoff'
      when p_pending_items > 0 and p_processing_items = 0 and exists (
        select 1 from app_public.batches b join app_public.tenants t on t.id = b.tenant_id
        where b.id = p_batch_id and t.max_running_chunks is not null
          and (select count(*) from graphile_worker._private_job_queues q
               where q.queue_name like 'finishline_tenant:' || t.id || ':%' and q.locked_at is not null) >= t.max_running_chunks)
        then 'waiting_for_tenant_limit'
      when p_pending_items > 0 and p_processing_items = 0 and p_updated_at < now() - interval '5 minutes'
        and not app_private.batch_has_runnable_job(p_batch_id)
        then 'items_without_job'
    end
  );
end
$$;


--
-- Name: FUNCTION batch_stuck_reason(p_batch_id uuid, p_pending_items integer, p_processing_items integer, p_updated_at timestamp with time zone, p_finished_at timestamp with time zone); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.batch_stuck_reason(p_batch_id uuid, p_pending_items integer, p_processing_items integer, p_updated_at timestamp with time zone, p_finished_at timestamp with time zone) IS 'Why a batch is not moving, or its summary not coming, or null (also for a batch the caller may not see). See batch_status_summary.stuck_reason.';


--
-- Name: caller_may_see(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.caller_may_see(p_tenant_id uuid) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  select p_tenant_id = app_public.current_tenant_id() or app_public.current_user_sees_all_tenants()
$$;


--
-- Name: FUNCTION caller_may_see(p_tenant_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.caller_may_see(p_tenant_id uuid) IS 'The one rule of tenancy: whether the request may see and touch rows of this tenant (its own, or every tenant for the installation''s operator). Every policy on a tenant-owned table uses it, and so does every security definer function that takes an id from a client, since row level security does not apply inside one.';


--
-- Name: catalog_seller(uuid, text); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.catalog_seller(p_tenant_id uuid, p_name text) RETURNS uuid
    LANGUAGE sql
    AS $$
  insert into app_public.sellers as s (tenant_id, name) values (p_tenant_id, p_name)
  on conflict (tenant_id, name) do update set name = excluded.name
  returning s.id
$$;


--
-- Name: FUNCTION catalog_seller(p_tenant_id uuid, p_name text); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.catalog_seller(p_tenant_id uuid, p_name text) IS 'The id of the tenant''s seller with this name, created if new.';


--
-- Name: check_batch_counters(uuid, interval); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.check_batch_counters(p_batch_id uuid, p_stale_after interval) RETURNS TABLE(counters app_private.batch_counters, status text, pending_items integer, processing_items integer, succeeded_items integer, failed_items integer, cancelled_items integer, total_items integer, counters_agree boolean, status_agrees boolean, rowless_holders text[])
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
#variable_conflict use_column
begin
  return query
  select c, b.status, a.pending_items, a.processing_items, a.succeeded_items, a.failed_items, a.cancelled_items, a.total_items,
    (c.pending_items + c.processing_items, c.succeeded_items, c.failed_items, c.cancelled_items)
      is not distinct from (a.pending_items + a.processing_items, a.succeeded_items, a.failed_items, a.cancelled_items),
    b.status is not distinct from app_private.batch_status_for(c, b.started_at is not null),
    coalesce(a.rowless_holders, '{}')
  from app_public.batches b
  join app_private.batch_counters c on c.batch_id = b.id
  cross join lateral (
    select
      count(*) filter (where i.status = 'pending')::integer as pending_items,
      count(*) filter (where i.status = 'processing')::integer as processing_items,
      count(*) filter (where i.status = 'succeeded')::integer as succeeded_items,
      count(*) filter (where i.status = 'failed')::integer as failed_items,
      count(*) filter (where i.status = 'cancelled')::integer as cancelled_items,
      count(*)::integer as total_items,
      array_agg(distinct i.locked_by) filter (where i.locked_by is not null and i.started_at < now() - p_stale_after
        and not exists (select 1 from app_private.workers w where w.id = i.locked_by)) as rowless_holders
    from app_public.batch_items i where i.batch_id = p_batch_id
  ) a
  where b.id = p_batch_id;
end
$$;


--
-- Name: FUNCTION check_batch_counters(p_batch_id uuid, p_stale_after interval); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.check_batch_counters(p_batch_id uuid, p_stale_after interval) IS 'A batch''s counters beside a count of its items (pending and processing compared as one), whether they agree, whether its status is the one they imply, and the ids holding its items that have no heartbeat row and started before p_stale_after: what sweep_batches checks.';


--
-- Name: check_product(text, text, text, text, numeric, text, integer); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.check_product(p_sku text, p_name text, p_description text, p_category text, p_price numeric, p_currency text, p_stock integer) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $_$
begin
  -- p_price is an unconstrained numeric: a numeric(12, 2) variable would already have rounded it.
  if p_sku is null or length(p_sku) not between 1 and 100 then
    raise exception 'sku must be 1 to 100 characters' using errcode = 'FLINV';
  end if;
  if p_name is null or length(p_name) not between 1 and 300 then
    raise exception 'name must be 1 to 300 characters' using errcode = 'FLINV';
  end if;
  if p_description is null or length(p_description) > 20000 then
    raise exception 'description must be at most 20000 characters' using errcode = 'FLINV';
  end if;
  if p_category is null or length(p_category) > 200 then
    raise exception 'category must be at most 200 characters' using errcode = 'FLINV';
  end if;
  if p_price is null or p_price < 0 then
    raise exception 'price must be zero or more, not %', coalesce(p_price::text, 'null') using errcode = 'FLINV';
  end if;
  if p_price <> round(p_price, 2) then
    raise exception 'price % has more than two decimals', p_price using errcode = 'FLINV';
  end if;
  if p_price >= 10000000000 then
    raise exception 'price % is too large (at most 9999999999.99)', p_price using errcode = 'FLINV';
  end if;
  if p_currency is null or p_currency !~ '^[A-Z]{3}$' then
    raise exception 'currency must be an ISO 4217 code of three capital letters, not "%"', p_currency using errcode = 'FLINV';
  end if;
  if p_stock is null or p_stock < 0 then
    raise exception 'stock must be zero or more, not %', coalesce(p_stock::text, 'null') using errcode = 'FLINV';
  end if;
end
$_$;


--
-- Name: FUNCTION check_product(p_sku text, p_name text, p_description text, p_category text, p_price numeric, p_currency text, p_stock integer); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.check_product(p_sku text, p_name text, p_description text, p_category text, p_price numeric, p_currency text, p_stock integer) IS 'Raises FLINV, naming the field, when a product''s sku, name, description, category, price (at least 0, two decimals at most), currency or stock is out of range.';


--
-- Name: chunk_priority(smallint, bigint); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.chunk_priority(p_batch_priority smallint, p_position bigint) RETURNS smallint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select (p_batch_priority * 10000 + least(p_position, 9999))::smallint
$$;


--
-- Name: FUNCTION chunk_priority(p_batch_priority smallint, p_position bigint); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.chunk_priority(p_batch_priority smallint, p_position bigint) IS 'The Graphile Worker priority of a batch''s chunk: the batch''s priority (-2 to 2) in steps of 10,000, then the chunk''s position in the batch (capped at 9,999: later chunks of a huge batch share it).';


--
-- Name: consume_recommender_changes(bigint[]); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.consume_recommender_changes(p_changes_seen bigint[]) RETURNS void
    LANGUAGE sql
    AS $$
  delete from app_private.recommender_changes where id = any(p_changes_seen)
$$;


--
-- Name: FUNCTION consume_recommender_changes(p_changes_seen bigint[]); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.consume_recommender_changes(p_changes_seen bigint[]) IS 'Forgets the changes a retrain has seen (these ids): its result stands for them. Changes committed since it read them stay for the retrain their commit queued.';


--
-- Name: cool_down_host(text, interval, text); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.cool_down_host(p_host text, p_for interval, p_reason text) RETURNS timestamp with time zone
    LANGUAGE sql
    AS $$
  insert into app_private.host_cooldowns as c (host, until, reason)
  values (p_host, clock_timestamp() + p_for, p_reason)
  on conflict (host) do update
    set until = greatest(c.until, excluded.until),
        reason = case when excluded.until > c.until then excluded.reason else c.reason end
  returning c.until
$$;


--
-- Name: FUNCTION cool_down_host(p_host text, p_for interval, p_reason text); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.cool_down_host(p_host text, p_for interval, p_reason text) IS 'Records that a host asked for no requests during p_for (Retry-After); a longer pause already recorded is kept. Returns until when the host is left alone.';


--
-- Name: counter_slot(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.counter_slot() RETURNS smallint
    LANGUAGE sql PARALLEL SAFE
    AS $$
  select (pg_backend_pid() % 32)::smallint
$$;


--
-- Name: FUNCTION counter_slot(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.counter_slot() IS 'The counter slot of this database session: two sessions rarely share one, and one session never runs two transactions at once.';


--
-- Name: create_catalog_staging(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.create_catalog_staging() RETURNS void
    LANGUAGE plpgsql
    AS $$
begin
  create temp table if not exists catalog_staging (
    id uuid not null, type text not null, line integer not null, sku text not null,
    name text, description text, category text, price numeric(12, 2), currency text, stock integer,
    author text, rating smallint, title text, body text, verified_purchase boolean, helpful_votes integer, unhelpful_votes integer
  ) on commit drop;
  create temp table if not exists catalog_chunk (like pg_temp.catalog_staging) on commit drop;
  create temp table if not exists catalog_merged_skus (sku text not null, line integer not null) on commit drop;
end
$$;


--
-- Name: FUNCTION create_catalog_staging(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.create_catalog_staging() IS 'Creates the temporary tables of one catalog import (dropped at commit): pg_temp.catalog_staging, the rows merge_catalog_staging merges (`id` is the id a row gets if it is new); pg_temp.catalog_chunk, the rows merge_catalog_chunk merges; pg_temp.catalog_merged_skus, the SKUs it merged and their lines.';


--
-- Name: worker_stale_after(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.worker_stale_after() RETURNS interval
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  select coalesce(nullif(current_setting('finishline.worker_stale_after', true), '')::interval, interval '5 seconds')
$$;


--
-- Name: FUNCTION worker_stale_after(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.worker_stale_after() IS 'How long a worker may go without a heartbeat, while its liveness connection is gone, before it counts as dead: the setting finishline.worker_stale_after (e.g. `alter database ... set finishline.worker_stale_after = ''10s''`), 5 seconds by default. Workers beat five times within it.';


--
-- Name: dead_worker_ids(interval); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.dead_worker_ids(p_stale_after interval DEFAULT app_private.worker_stale_after()) RETURNS text[]
    LANGUAGE sql STABLE
    AS $$
  select coalesce(array_agg(distinct id), '{}') from (
    select w.id from app_private.workers w
    where greatest(w.last_seen_at, pg_postmaster_start_time()) < now() - p_stale_after
      and not app_private.worker_holds_lock(w.id)
    union
    -- Jobs held by an id that has no heartbeat row: a worker that died before its first beat, or
    -- one removed without giving them back. (Items held so are found by the sweeper, which reads
    -- every unfinished batch's items: no index leads to them.)
    select j.locked_by from graphile_worker.jobs j
    where j.locked_by is not null and j.locked_at < now() - p_stale_after
      and not exists (select 1 from app_private.workers w where w.id = j.locked_by)
  ) dead
$$;


--
-- Name: FUNCTION dead_worker_ids(p_stale_after interval); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.dead_worker_ids(p_stale_after interval) IS 'Workers that are not alive (no lock held, no heartbeat within p_stale_after since the database started), and ids with no heartbeat row that hold locked jobs.';


--
-- Name: defer_items(text, bigint[], timestamp with time zone, text, boolean); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.defer_items(p_worker_id text, p_item_ids bigint[], p_run_after timestamp with time zone, p_reason text, p_attempt_counts boolean) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION defer_items(p_worker_id text, p_item_ids bigint[], p_run_after timestamp with time zone, p_reason text, p_attempt_counts boolean); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.defer_items(p_worker_id text, p_item_ids bigint[], p_run_after timestamp with time zone, p_reason text, p_attempt_counts boolean) IS 'Puts a worker''s processing items back to `pending` until p_run_after (the update trigger enqueues their job for then), with p_reason as their last_error, instead of the kind''s backoff: for a wait the handler knows, such as a host''s Retry-After. When p_attempt_counts is false (the item was held back before doing anything) the attempt is given back; when it is true, an item on its last attempt is left alone, for finish_items to fail. Returns how many items it deferred.';


--
-- Name: earlier_items_unfinished(bigint); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.earlier_items_unfinished(p_item_id bigint) RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
declare
  v_batch_id uuid := (select i.batch_id from app_public.batch_items i where i.id = p_item_id);
begin
  return exists (
    select from app_public.batch_items e
    where e.batch_id = v_batch_id and e.id < p_item_id and e.status in ('pending', 'processing'));
end
$$;


--
-- Name: FUNCTION earlier_items_unfinished(p_item_id bigint); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.earlier_items_unfinished(p_item_id bigint) IS 'Whether an item of the same batch that comes before this one (a lower id: given earlier) is still pending or processing.';


--
-- Name: enqueue_batch_summary(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.enqueue_batch_summary(p_batch_id uuid) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
  select graphile_worker.add_job('aggregate_batch', json_build_object('batch_id', b.id),
    job_key => 'aggregate_batch:' || b.id, job_key_mode => 'unsafe_dedupe', max_attempts => 10)
  from app_public.batches b where b.id = p_batch_id and app_private.caller_may_see(b.tenant_id);
$$;


--
-- Name: FUNCTION enqueue_batch_summary(p_batch_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.enqueue_batch_summary(p_batch_id uuid) IS 'Enqueues aggregate_batch for a batch the caller may see, unless a job for it is already waiting.';


--
-- Name: enqueue_items(app_private.batch_item_ids[], timestamp with time zone); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.enqueue_items(p_items app_private.batch_item_ids[], p_run_at timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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


--
-- Name: FUNCTION enqueue_items(p_items app_private.batch_item_ids[], p_run_at timestamp with time zone); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.enqueue_items(p_items app_private.batch_item_ids[], p_run_at timestamp with time zone) IS 'Enqueues jobs for the given items (each batch''s ids in the order they should run): one job per chunk of the kind''s chunk_size, run by the kind''s task, not before p_run_at, at the priority of its position (chunk_priority), in its tenant''s queues when the tenant has a limit (tenant_queue_name); each recorded in chunk_jobs. Returns the number of jobs.';


--
-- Name: enqueue_review_scorer_training(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.enqueue_review_scorer_training() RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
  select graphile_worker.add_job('train_review_scorer', '{}', job_key => 'train_review_scorer', job_key_mode => 'unsafe_dedupe') is not null
$$;


--
-- Name: FUNCTION enqueue_review_scorer_training(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.enqueue_review_scorer_training() IS 'Enqueues train_review_scorer unless it is already waiting.';


--
-- Name: finalize_batch(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.finalize_batch(p_batch_id uuid) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
begin
  -- Waits for every transaction finishing items of the batch; settle_batch then reads anew.
  perform 1 from app_public.batches b where b.id = p_batch_id for no key update;
  return app_private.settle_batch(p_batch_id);
end
$$;


--
-- Name: FUNCTION finalize_batch(p_batch_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.finalize_batch(p_batch_id uuid) IS 'Settles a batch once no transaction finishing its items is left running: called by the worker whose advance_items named the batch, and by the finalize_batch task (enqueued by settle_batch_if_alone); whichever comes second finds it settled. Returns its status.';


--
-- Name: current_tenant_id(); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.current_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  -- A pooled connection that once carried the claim reads '' afterwards, not null.
  select nullif(current_setting('jwt.claims.tenant_id', true), '')::uuid
$$;


--
-- Name: FUNCTION current_tenant_id(); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.current_tenant_id() IS 'The tenant of the current request, from the JWT claim `tenant_id`; null for anonymous requests.';


--
-- Name: batches; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.batches (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    tenant_id uuid DEFAULT app_public.current_tenant_id() NOT NULL,
    kind text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    total_items integer DEFAULT 0 NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    idempotency_key text,
    request_fingerprint bytea,
    priority smallint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    items_pruned_at timestamp with time zone,
    CONSTRAINT batches_check CHECK (((status = ANY (ARRAY['completed'::text, 'completed_with_errors'::text, 'cancelled'::text])) = (finished_at IS NOT NULL))),
    CONSTRAINT batches_check1 CHECK (((status <> 'processing'::text) OR (started_at IS NOT NULL))),
    CONSTRAINT batches_check2 CHECK (((items_pruned_at IS NULL) OR (finished_at IS NOT NULL))),
    CONSTRAINT batches_idempotency_key_check CHECK (((length(idempotency_key) >= 1) AND (length(idempotency_key) <= 200))),
    CONSTRAINT batches_metadata_check CHECK ((jsonb_typeof(metadata) = 'object'::text)),
    CONSTRAINT batches_priority_check CHECK (((priority >= '-2'::integer) AND (priority <= 2))),
    CONSTRAINT batches_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'processing'::text, 'completed'::text, 'completed_with_errors'::text, 'cancelled'::text]))),
    CONSTRAINT batches_total_items_check CHECK ((total_items >= 0))
)
WITH (vacuum_truncate='false');


--
-- Name: TABLE batches; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.batches IS '@behavior -insert -update -delete
A unit of work made of items; it finishes by itself when its last item reaches a terminal state. Submit one with submitBatch.';


--
-- Name: COLUMN batches.id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batches.id IS 'The batch''s id.';


--
-- Name: COLUMN batches.tenant_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batches.tenant_id IS 'The tenant that owns the batch.';


--
-- Name: COLUMN batches.kind; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batches.kind IS 'What its items do; one of `batch_kinds`.';


--
-- Name: COLUMN batches.status; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batches.status IS '`pending` until an item starts, `processing` while items run, then `completed`, `completed_with_errors` (some items failed) or `cancelled`.';


--
-- Name: COLUMN batches.total_items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batches.total_items IS 'How many items the batch holds.';


--
-- Name: COLUMN batches.metadata; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batches.metadata IS 'Free-form JSON object given at submission.';


--
-- Name: COLUMN batches.idempotency_key; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batches.idempotency_key IS 'Submitting again with the same key returns this batch instead of creating another (unique per tenant).';


--
-- Name: COLUMN batches.request_fingerprint; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batches.request_fingerprint IS '@behavior -*
The SHA-256 of the submission that used `idempotency_key` (its kind, items, metadata and priority), set by submit_batch: the key sent again with another request is refused (FLIDM) rather than answered with this batch.';


--
-- Name: COLUMN batches.priority; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batches.priority IS 'Its priority, from -2 (runs first) to 2; null for its kind''s.';


--
-- Name: COLUMN batches.created_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batches.created_at IS 'When the batch was submitted.';


--
-- Name: COLUMN batches.started_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batches.started_at IS 'When its first item started.';


--
-- Name: COLUMN batches.finished_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batches.finished_at IS 'When its last item reached a terminal state.';


--
-- Name: COLUMN batches.items_pruned_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batches.items_pruned_at IS 'When its items were removed, past the items'' retention (prune_finished_batches); null while they are kept. The batch keeps its counts, status, times and run summary; its items, with their payloads, results and errors, are gone, so they cannot be retried (FLPRN).';


--
-- Name: find_batch(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.find_batch(p_batch_id uuid) RETURNS app_public.batches
    LANGUAGE plpgsql STABLE
    AS $$
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


--
-- Name: FUNCTION find_batch(p_batch_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.find_batch(p_batch_id uuid) IS 'The batch with this id as the caller may see it, or error FLNFD.';


--
-- Name: uuid_v7(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.uuid_v7() RETURNS uuid
    LANGUAGE sql PARALLEL SAFE
    AS $$
  -- RFC 9562 version 7: 48 bits of Unix time in milliseconds, then the version (7), then random
  -- bits. PostgreSQL 18 has uuidv7(); this one works on 15 and newer alike.
  select encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
              from 1 for 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;


--
-- Name: FUNCTION uuid_v7(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.uuid_v7() IS 'A new version 7 UUID (RFC 9562): time-ordered, so rows inserted together sit together in the indexes on their ids.';


--
-- Name: products; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.products (
    id uuid DEFAULT app_private.uuid_v7() NOT NULL,
    tenant_id uuid NOT NULL,
    seller_id uuid NOT NULL,
    sku text NOT NULL,
    name text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    category text DEFAULT ''::text NOT NULL,
    price numeric(12,2) NOT NULL,
    currency text DEFAULT 'EUR'::text NOT NULL,
    stock integer DEFAULT 0 NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    rejection_reason text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT products_category_check CHECK ((length(category) <= 200)),
    CONSTRAINT products_currency_check CHECK ((currency ~ '^[A-Z]{3}$'::text)),
    CONSTRAINT products_description_check CHECK ((length(description) <= 20000)),
    CONSTRAINT products_name_check CHECK (((length(name) >= 1) AND (length(name) <= 300))),
    CONSTRAINT products_price_check CHECK ((price >= (0)::numeric)),
    CONSTRAINT products_rejection_reason_check CHECK ((length(rejection_reason) <= 1000)),
    CONSTRAINT products_sku_check CHECK (((length(sku) >= 1) AND (length(sku) <= 100))),
    CONSTRAINT products_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'approved'::text, 'rejected'::text]))),
    CONSTRAINT products_stock_check CHECK ((stock >= 0))
);


--
-- Name: TABLE products; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.products IS '@behavior -insert -update -delete
A product a seller offers; shoppers see it once an admin has approved it.';


--
-- Name: COLUMN products.id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.id IS 'The product''s id.';


--
-- Name: COLUMN products.tenant_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.tenant_id IS 'The tenant it belongs to.';


--
-- Name: COLUMN products.seller_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.seller_id IS 'The seller offering it.';


--
-- Name: COLUMN products.sku; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.sku IS 'The seller''s stock-keeping unit, unique per seller: imports match products by it.';


--
-- Name: COLUMN products.name; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.name IS 'Its name.';


--
-- Name: COLUMN products.description; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.description IS 'Its description.';


--
-- Name: COLUMN products.category; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.category IS 'Its category, e.g. `kitchen/knives`.';


--
-- Name: COLUMN products.price; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.price IS 'Its price, in `currency`, with two decimals.';


--
-- Name: COLUMN products.currency; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.currency IS 'ISO 4217 code of the price''s currency.';


--
-- Name: COLUMN products.stock; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.stock IS 'Units in stock.';


--
-- Name: COLUMN products.status; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.status IS '`pending` (waiting for an admin), `approved` (visible to shoppers) or `rejected`.';


--
-- Name: COLUMN products.rejection_reason; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.rejection_reason IS 'Why an admin rejected it.';


--
-- Name: COLUMN products.created_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.created_at IS 'When it was created.';


--
-- Name: COLUMN products.updated_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.products.updated_at IS 'When it last changed.';


--
-- Name: find_own_product(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.find_own_product(p_product_id uuid) RETURNS app_public.products
    LANGUAGE plpgsql STABLE
    AS $$
declare
  v_seller_id uuid := app_private.require_seller();
  v_product app_public.products := app_private.find_product(p_product_id);
begin
  if v_product.seller_id <> v_seller_id then
    raise exception 'product % belongs to another seller', p_product_id using errcode = 'FLOWN';
  end if;
  return v_product;
end
$$;


--
-- Name: FUNCTION find_own_product(p_product_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.find_own_product(p_product_id uuid) IS 'The calling seller''s product with this id; FLROL when the caller is no seller, FLPNF when it can''t see the product, FLOWN when it is another seller''s.';


--
-- Name: find_product(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.find_product(p_product_id uuid) RETURNS app_public.products
    LANGUAGE plpgsql STABLE
    AS $$
declare
  v_product app_public.products;
begin
  -- Runs as the caller, so row level security decides: a product it may not see is "not found".
  select * into v_product from app_public.products p where p.id = p_product_id;
  if v_product.id is null then
    raise exception 'product % not found', p_product_id using errcode = 'FLPNF';
  end if;
  return v_product;
end
$$;


--
-- Name: FUNCTION find_product(p_product_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.find_product(p_product_id uuid) IS 'The product with this id as the caller may see it, or error FLPNF.';


--
-- Name: finish_catalog_upload(uuid, bigint, text); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.finish_catalog_upload(p_file_id uuid, p_size_bytes bigint, p_sha256 text) RETURNS uuid
    LANGUAGE plpgsql
    AS $$
declare
  v_file app_public.catalog_files;
  v_existing uuid;
begin
  select * into v_file from app_public.catalog_files where id = p_file_id;
  if p_size_bytes > app_private.max_catalog_file_bytes() then
    raise exception 'catalog file "%" is % bytes; the limit is % bytes', v_file.filename, p_size_bytes, app_private.max_catalog_file_bytes()
      using errcode = 'FLBIG';
  end if;
  select id into v_existing from app_public.catalog_files
    where tenant_id = v_file.tenant_id and sha256 = p_sha256 and id <> p_file_id;
  if v_existing is null then
    begin
      update app_public.catalog_files set size_bytes = p_size_bytes, sha256 = p_sha256 where id = p_file_id;
      return p_file_id;
    exception when unique_violation then
      -- An upload of the same content, not yet committed when we looked above, committed since
      -- (the update waited for it): this statement sees its file.
      select id into strict v_existing from app_public.catalog_files
        where tenant_id = v_file.tenant_id and sha256 = p_sha256 and id <> p_file_id;
    end;
  end if;
  -- Same content as an earlier upload: keep that one, with this upload's chunks if its own were
  -- pruned (the file id that old imports name stays the file's).
  if (select f.content_removed_at is not null from app_public.catalog_files f where f.id = v_existing for no key update) then
    update app_private.catalog_file_chunks set file_id = v_existing where file_id = p_file_id;
    update app_public.catalog_files set content_removed_at = null where id = v_existing;
  end if;
  delete from app_public.catalog_files where id = p_file_id;
  return v_existing;
end
$$;


--
-- Name: FUNCTION finish_catalog_upload(p_file_id uuid, p_size_bytes bigint, p_sha256 text); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.finish_catalog_upload(p_file_id uuid, p_size_bytes bigint, p_sha256 text) IS 'Completes an upload whose chunks were written in the same transaction: records size and SHA-256, or, when the tenant already has that content (uploaded before, or by an upload committed while this one finished), drops the new copy and returns the existing file''s id (giving it the new chunks if its own were pruned).';


--
-- Name: finish_items(text, jsonb); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.finish_items(p_worker_id text, p_outcomes jsonb, OUT recorded integer, OUT batch_to_finalize uuid) RETURNS record
    LANGUAGE sql
    AS $$
  select a.recorded, a.batch_to_finalize from app_private.advance_items(p_worker_id, null, '{}', p_outcomes) a
  where a.id is null
$$;


--
-- Name: FUNCTION finish_items(p_worker_id text, p_outcomes jsonb, OUT recorded integer, OUT batch_to_finalize uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.finish_items(p_worker_id text, p_outcomes jsonb, OUT recorded integer, OUT batch_to_finalize uuid) IS 'The outcome half of advance_items: records outcomes `[{id, error, result, permanent}]` of items the worker holds, of any batch; returns how many it recorded, and the batch to finalize once this transaction has committed.';


--
-- Name: forget_worker(text); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.forget_worker(p_worker_id text) RETURNS integer
    LANGUAGE plpgsql
    AS $$
declare
  v_released integer;
begin
  v_released := app_private.release_items(p_worker_id, null, null, false);
  perform graphile_worker.force_unlock_workers(array[p_worker_id]);
  delete from app_private.workers where id = p_worker_id;
  -- On the worker's liveness connection, its lock goes too (taken once per connection, but
  -- release every hold this session may have).
  while exists (select 1 from pg_locks l where l.pid = pg_backend_pid() and l.locktype = 'advisory' and l.objsubid = 2
                and l.classid = 46150 and l.objid::bigint = app_private.worker_lock_key(p_worker_id)::bigint & 4294967295) loop
    perform pg_advisory_unlock(46150, app_private.worker_lock_key(p_worker_id));
  end loop;
  return v_released;
end
$$;


--
-- Name: FUNCTION forget_worker(p_worker_id text); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.forget_worker(p_worker_id text) IS 'Called by a worker that stops (or whose pool stopped) on its liveness connection: in one transaction, gives back every item it still holds (without spending an attempt), unlocks its jobs, removes its heartbeat and releases its lock. Returns how many items it gave back.';


--
-- Name: held_item_ids(text); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.held_item_ids(p_worker_id text) RETURNS bigint[]
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
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


--
-- Name: FUNCTION held_item_ids(p_worker_id text); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.held_item_ids(p_worker_id text) IS 'The ids of the items a worker holds (processing), in id order.';


--
-- Name: lock_catalog_seller(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.lock_catalog_seller(p_seller_id uuid) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
begin
  -- Each insert of a product takes a KEY SHARE lock on its seller (its foreign key's check),
  -- which this lock excludes until commit.
  perform from app_public.sellers where id = p_seller_id for update;
  return not exists (select from app_public.products where seller_id = p_seller_id);
end
$$;


--
-- Name: FUNCTION lock_catalog_seller(p_seller_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.lock_catalog_seller(p_seller_id uuid) IS 'Locks a seller for a catalog import, so that no other transaction adds a product of it until commit, and tells whether it has no products yet: if so, the import may merge its products a chunk at a time with merge_catalog_chunk.';


--
-- Name: max_catalog_file_bytes(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.max_catalog_file_bytes() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  select coalesce(nullif(current_setting('finishline.max_catalog_file_bytes', true), '')::bigint, 512 * 1024 * 1024)
$$;


--
-- Name: FUNCTION max_catalog_file_bytes(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.max_catalog_file_bytes() IS 'The largest catalog file accepted: the setting finishline.max_catalog_file_bytes, 512 MB by default.';


--
-- Name: merge_catalog_chunk(uuid, uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.merge_catalog_chunk(p_tenant_id uuid, p_seller_id uuid) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
declare
  v_products bigint;
  v_inserted bigint;
  v_within jsonb;
  v_across jsonb;
begin
  -- Reviews wait for the products of the rest of the file: merge_catalog_staging merges them last.
  with reviews as (delete from pg_temp.catalog_chunk where type = 'review' returning *)
  insert into pg_temp.catalog_staging select * from reviews;
  analyze pg_temp.catalog_chunk;

  -- A SKU repeated within the chunk: its first row wins, the later ones are removed and reported.
  with numbered as (
    select line, min(line) over (partition by sku) as first_line from pg_temp.catalog_chunk
  ), removed as (
    delete from pg_temp.catalog_chunk c using numbered n
    where n.line <> n.first_line and c.line = n.line
    returning c.line, n.first_line, c.sku
  )
  select jsonb_build_object('count', (select count(*) from removed), 'rows', (
    select coalesce(jsonb_agg(jsonb_build_object('line', line, 'first_line', first_line, 'type', 'product', 'sku', sku) order by line), '[]')
    from (select * from removed order by line limit 100) listed))
  into v_within;

  select count(*) into v_products from pg_temp.catalog_chunk;
  with inserted as (
    insert into app_public.products (id, tenant_id, seller_id, sku, name, description, category, price, currency, stock)
    select c.id, p_tenant_id, p_seller_id, c.sku, c.name, c.description, c.category, c.price, c.currency, c.stock
    from pg_temp.catalog_chunk c
    on conflict (seller_id, sku) do nothing
    returning 1
  )
  select count(*) into v_inserted from inserted;
  -- A SKU not inserted is stored already: an earlier chunk's row of it won. Such rows are removed
  -- (catalog_merged_skus keeps the first line of each SKU only) and reported.
  v_across := jsonb_build_object('count', v_products - v_inserted, 'rows', '[]'::jsonb);
  if v_inserted < v_products then
    with repeated as (
      delete from pg_temp.catalog_chunk c
      -- (A subquery per row: an index lookup each, where a join would read all the seller's products.)
      where (select p.id from app_public.products p where p.seller_id = p_seller_id and p.sku = c.sku) <> c.id
      returning c.line, c.sku
    )
    select v_across || jsonb_build_object('rows', coalesce(jsonb_agg(jsonb_build_object('line', line, 'first_line', first_line, 'type', 'product', 'sku', sku) order by line), '[]'))
    into v_across
    from (
      select r.line, m.line as first_line, r.sku
      from repeated r join pg_temp.catalog_merged_skus m on m.sku = r.sku
      order by r.line limit 100
    ) listed;
  end if;
  insert into pg_temp.catalog_merged_skus (sku, line) select sku, line from pg_temp.catalog_chunk;
  truncate pg_temp.catalog_chunk;

  return jsonb_build_object(
    'products', jsonb_build_object('inserted', v_inserted, 'updated', 0, 'unchanged', 0),
    'duplicates', jsonb_build_object(
      'count', (v_within->>'count')::bigint + (v_across->>'count')::bigint,
      'rows', (v_within->'rows') || (v_across->'rows')));
end
$$;


--
-- Name: FUNCTION merge_catalog_chunk(p_tenant_id uuid, p_seller_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.merge_catalog_chunk(p_tenant_id uuid, p_seller_id uuid) IS 'Merges the rows in pg_temp.catalog_chunk, a chunk of a catalog file, for a seller that had no products when lock_catalog_seller locked it, and empties it: sets its reviews aside in pg_temp.catalog_staging (merge_catalog_staging merges them last), and inserts its products; a SKU seen before in the file, in this chunk or an earlier one, keeps its first row and the later ones are reported. Returns {products: {inserted, updated, unchanged}, duplicates: {count, rows: [{line, first_line, type, sku}] (the first 100 of each kind)}}.';


--
-- Name: merge_catalog_staging(uuid, uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.merge_catalog_staging(p_tenant_id uuid, p_seller_id uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SET work_mem TO '64MB'
    AS $$
declare
  v_staged_products bigint;
  v_products_updated bigint;
  v_products_inserted bigint;
  v_reviews_updated bigint;
  v_products jsonb;
  v_reviews jsonb;
  v_duplicates jsonb;
begin
  -- Until commit, no other transaction adds a product of this seller: each insert of one takes a
  -- KEY SHARE lock on its seller row (its foreign key's check), which this lock excludes. The
  -- inserts of new SKUs below then cannot conflict. (catalog_seller's upsert, called just before,
  -- takes the same lock, since it sets `name`, a key column; the merge does not rely on that.)
  perform from app_public.sellers where id = p_seller_id for update;
  -- The joins below are planned from these statistics (an unanalyzed temporary table is guessed).
  analyze pg_temp.catalog_staging;

  -- A SKU (or a review of one SKU by one author) appearing twice in a file: the first wins, the
  -- later ones are removed and reported, naming the line of the first.
  with numbered as (
    select line, min(line) over (partition by type, sku, case when type = 'review' then author end) as first_line
    from pg_temp.catalog_staging
  ), removed as (
    delete from pg_temp.catalog_staging s using numbered n
    where n.line <> n.first_line and s.line = n.line
    returning s.line, n.first_line, s.type, s.sku, s.author
  )
  select jsonb_build_object(
    'count', (select count(*) from removed),
    'rows', (select coalesce(jsonb_agg(jsonb_build_object('line', line, 'first_line', first_line, 'type', type, 'sku', sku, 'author', author) order by line), '[]')
             from (select * from removed order by line limit 1000) listed))
  into v_duplicates;

  -- Products first, so that reviews anywhere in the file find the products it adds. Rows equal
  -- to what is stored are not written: re-running a file changes nothing.
  select count(*) into v_staged_products from pg_temp.catalog_staging where type = 'product';
  with changed as (
    update app_public.products p set
      name = s.name, description = s.description, category = s.category,
      price = s.price, currency = s.currency, stock = s.stock
    from pg_temp.catalog_staging s
    where s.type = 'product' and p.seller_id = p_seller_id and p.sku = s.sku
      and (p.name, p.description, p.category, p.price, p.currency, p.stock)
        is distinct from (s.name, s.description, s.category, s.price, s.currency, s.stock)
    returning 1
  )
  select count(*) into v_products_updated from changed;
  -- The new SKUs. No other transaction can add one meanwhile (see above), so a plain INSERT: with
  -- ON CONFLICT each row would be a speculative insertion, a sixth more work.
  insert into app_public.products (id, tenant_id, seller_id, sku, name, description, category, price, currency, stock)
  select s.id, p_tenant_id, p_seller_id, s.sku, s.name, s.description, s.category, s.price, s.currency, s.stock
  from pg_temp.catalog_staging s
  where s.type = 'product'
    and not exists (select from app_public.products e where e.seller_id = p_seller_id and e.sku = s.sku);
  get diagnostics v_products_inserted = row_count;
  v_products := jsonb_build_object(
    'inserted', v_products_inserted,
    'updated', v_products_updated,
    'unchanged', v_staged_products - v_products_updated - v_products_inserted);

  -- Reviews, once per (product, author), the same way, but with ON CONFLICT: the seller's lock
  -- does not keep other writers from its products' reviews.
  drop table if exists pg_temp.catalog_staged_reviews;
  create temp table catalog_staged_reviews on commit drop as
    select r.line, r.id, p.id as product_id, r.author, r.rating, r.title, r.body, r.verified_purchase, r.helpful_votes, r.unhelpful_votes
    from pg_temp.catalog_staging r
    left join app_public.products p on p.seller_id = p_seller_id and p.sku = r.sku
    where r.type = 'review';
  with changed as (
    update app_public.reviews v set
      rating = r.rating, title = r.title, body = r.body, verified_purchase = r.verified_purchase,
      helpful_votes = r.helpful_votes, unhelpful_votes = r.unhelpful_votes
    from pg_temp.catalog_staged_reviews r
    where v.product_id = r.product_id and v.author = r.author
      and (v.rating, v.title, v.body, v.verified_purchase, v.helpful_votes, v.unhelpful_votes)
        is distinct from (r.rating, r.title, r.body, r.verified_purchase, r.helpful_votes, r.unhelpful_votes)
    returning 1
  )
  select count(*) into v_reviews_updated from changed;
  with written as (
    insert into app_public.reviews as v (id, tenant_id, product_id, author, rating, title, body, verified_purchase, helpful_votes, unhelpful_votes)
    select r.id, p_tenant_id, r.product_id, r.author, r.rating, r.title, r.body, r.verified_purchase, r.helpful_votes, r.unhelpful_votes
    from pg_temp.catalog_staged_reviews r
    where r.product_id is not null
      and not exists (select from app_public.reviews e where e.product_id = r.product_id and e.author = r.author)
    on conflict (product_id, author) do update set
      rating = excluded.rating, title = excluded.title, body = excluded.body, verified_purchase = excluded.verified_purchase,
      helpful_votes = excluded.helpful_votes, unhelpful_votes = excluded.unhelpful_votes
    where (v.rating, v.title, v.body, v.verified_purchase, v.helpful_votes, v.unhelpful_votes)
      is distinct from (excluded.rating, excluded.title, excluded.body, excluded.verified_purchase, excluded.helpful_votes, excluded.unhelpful_votes)
    returning (v.xmax = 0) as inserted
  )
  select jsonb_build_object(
    'inserted', count(*) filter (where inserted),
    'updated', v_reviews_updated + count(*) filter (where not inserted),
    'unchanged', (select count(*) from pg_temp.catalog_staged_reviews where product_id is not null) - v_reviews_updated - count(*),
    'unknown_product_lines', (select coalesce(jsonb_agg(line order by line), '[]') from (
      select line from pg_temp.catalog_staged_reviews where product_id is null order by line limit 1000) unknown),
    'unknown_products', (select count(*) from pg_temp.catalog_staged_reviews where product_id is null))
  into v_reviews from written;

  return jsonb_build_object('products', v_products, 'reviews', v_reviews, 'duplicates', v_duplicates);
end
$$;


--
-- Name: FUNCTION merge_catalog_staging(p_tenant_id uuid, p_seller_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.merge_catalog_staging(p_tenant_id uuid, p_seller_id uuid) IS 'Upserts the staged rows of a catalog file for one seller: products by SKU, then reviews (found by SKU) once per (product, author), updating the rows that differ and inserting the new ones; a SKU or review repeated in the file keeps its first row. Returns {products: {inserted, updated, unchanged}, reviews: {inserted, updated, unchanged, unknown_products, unknown_product_lines}, duplicates: {count, rows: [{line, first_line, type, sku, author}]}}.';


--
-- Name: notify_batch_progress(uuid, uuid, text, integer); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.notify_batch_progress(p_tenant_id uuid, p_batch_id uuid, p_status text, p_done integer) RETURNS void
    LANGUAGE sql
    AS $$
  select pg_notify('batch_progress:' || md5(p_tenant_id || ':' || p_batch_id), p_status || ':' || p_done)
$$;


--
-- Name: FUNCTION notify_batch_progress(p_tenant_id uuid, p_batch_id uuid, p_status text, p_done integer); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.notify_batch_progress(p_tenant_id uuid, p_batch_id uuid, p_status text, p_done integer) IS 'Tells the batch''s progress channel (named by tenant and batch) its status and how many of its items are done.';


--
-- Name: price_band(numeric); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.price_band(p_price numeric) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select floor(2 * ln(greatest(p_price, 0) + 1) / ln(2))::integer
$$;


--
-- Name: FUNCTION price_band(p_price numeric); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.price_band(p_price numeric) IS 'The price band the recommender compares: half-octaves of the price (0 for free, 13 around 100, 20 around 1000), so that a small price change keeps a product in its band.';


--
-- Name: sweeper_repairs; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.sweeper_repairs (
    id bigint NOT NULL,
    repaired_at timestamp with time zone DEFAULT now() NOT NULL,
    repair text NOT NULL,
    batch_id uuid,
    worker_id text,
    details jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT sweeper_repairs_repair_check CHECK ((repair = ANY (ARRAY['released_items'::text, 'removed_dead_worker'::text, 'returned_lost_jobs'::text, 'corrected_counters'::text, 'settled_batch'::text, 'enqueued_summary'::text, 'enqueued_orphaned_items'::text])))
)
WITH (vacuum_truncate='false');


--
-- Name: TABLE sweeper_repairs; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.sweeper_repairs IS 'Every repair the sweeper made. Each row means something crashed or was damaged; operators should look.';


--
-- Name: COLUMN sweeper_repairs.id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.sweeper_repairs.id IS 'The repair''s id (increasing).';


--
-- Name: COLUMN sweeper_repairs.repaired_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.sweeper_repairs.repaired_at IS 'When the sweeper made it.';


--
-- Name: COLUMN sweeper_repairs.repair; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.sweeper_repairs.repair IS '`released_items` (items of a dead worker back in the queue), `removed_dead_worker`, `returned_lost_jobs` (jobs locked for a live worker that never received them), `corrected_counters`, `settled_batch` (a batch''s status was not what its counters imply: a finalization had not run), `enqueued_summary` (a finished batch had no summary nor a job for one), `enqueued_orphaned_items` (pending items had no job).';


--
-- Name: COLUMN sweeper_repairs.batch_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.sweeper_repairs.batch_id IS 'The batch repaired, if any (no foreign key: the log outlives batches).';


--
-- Name: COLUMN sweeper_repairs.worker_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.sweeper_repairs.worker_id IS 'The dead worker concerned, if any.';


--
-- Name: COLUMN sweeper_repairs.details; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.sweeper_repairs.details IS 'What was found and what was done.';


--
-- Name: recent_sweeper_repairs_seen_by_caller(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.recent_sweeper_repairs_seen_by_caller() RETURNS SETOF app_private.sweeper_repairs
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
  select r.* from app_private.sweeper_repairs r
  where r.repaired_at > now() - interval '1 day' and app_public.current_user_sees_all_tenants()
  order by r.repaired_at desc, r.id desc
$$;


--
-- Name: FUNCTION recent_sweeper_repairs_seen_by_caller(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.recent_sweeper_repairs_seen_by_caller() IS 'The sweeper''s repairs of the last 24 hours, newest first, for the installation''s operator only (no rows for anyone else): the body of the view app_public.recent_sweeper_repairs.';


--
-- Name: recommender_content_key(text, text, text, numeric); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.recommender_content_key(p_name text, p_category text, p_description text, p_price numeric) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select md5(concat_ws(E'\x1f', p_name, p_category, p_description, app_private.price_band(p_price)))
$$;


--
-- Name: FUNCTION recommender_content_key(p_name text, p_category text, p_description text, p_price numeric); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.recommender_content_key(p_name text, p_category text, p_description text, p_price numeric) IS 'A digest of everything the recommender reads from a product: a product whose key is unchanged has the same embedding.';


--
-- Name: recommender_lists_containing(uuid[]); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.recommender_lists_containing(p_product_ids uuid[]) RETURNS SETOF uuid
    LANGUAGE sql STABLE
    AS $$
  select distinct r.product_id
  from app_public.product_recommendations r
  where r.recommended_product_id = any(p_product_ids)
$$;


--
-- Name: FUNCTION recommender_lists_containing(p_product_ids uuid[]); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.recommender_lists_containing(p_product_ids uuid[]) IS 'Products whose recommendations include any of these: their lists must be recomputed when these change or go.';


--
-- Name: recommender_product_texts(uuid[]); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.recommender_product_texts(p_product_ids uuid[]) RETURNS TABLE(id uuid, name text, category text, description text, price_band integer, content_key text)
    LANGUAGE sql STABLE
    AS $$
  select p.id, p.name, p.category, p.description, app_private.price_band(p.price),
    app_private.recommender_content_key(p.name, p.category, p.description, p.price)
  from app_public.products p
  where p.id = any(p_product_ids)
$$;


--
-- Name: FUNCTION recommender_product_texts(p_product_ids uuid[]); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.recommender_product_texts(p_product_ids uuid[]) IS 'What the recommender embeds of these products (for those whose embedding a worker does not hold yet).';


--
-- Name: recommender_products(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.recommender_products(p_tenant_id uuid) RETURNS TABLE(id uuid, content_key text, stored_content_key text, kth_score real)
    LANGUAGE sql STABLE
    AS $$
  select p.id, app_private.recommender_content_key(p.name, p.category, p.description, p.price), i.content_key, i.kth_score
  from app_public.products p
  left join app_private.recommender_inputs i on i.product_id = p.id
  where p.tenant_id = p_tenant_id and p.status = 'approved'
  order by p.id
$$;


--
-- Name: FUNCTION recommender_products(p_tenant_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.recommender_products(p_tenant_id uuid) IS 'The approved products of a tenant, each with its content key now and the content key and k-th score the active recommendations were computed from (null for new products).';


--
-- Name: recommender_removed_products(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.recommender_removed_products(p_tenant_id uuid) RETURNS SETOF uuid
    LANGUAGE sql STABLE
    AS $$
  select i.product_id
  from app_private.recommender_inputs i
  where i.tenant_id = p_tenant_id
    and not exists (select from app_public.products p where p.id = i.product_id and p.status = 'approved')
$$;


--
-- Name: FUNCTION recommender_removed_products(p_tenant_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.recommender_removed_products(p_tenant_id uuid) IS 'Products the active recommendations were computed from that are deleted or no longer approved.';


--
-- Name: record_review_scores(uuid, uuid[], real[]); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.record_review_scores(p_model_version_id uuid, p_review_ids uuid[], p_scores real[]) RETURNS integer
    LANGUAGE sql
    AS $$
  with written as (
    insert into app_public.review_scores as s (review_id, tenant_id, score, model_version_id, scored_at)
    select r.id, r.tenant_id, least(greatest(x.score, 0), 1), p_model_version_id, now()
    from unnest(p_review_ids, p_scores) as x(review_id, score)
    join app_public.reviews r on r.id = x.review_id
    on conflict (review_id) do update set score = excluded.score, model_version_id = excluded.model_version_id, scored_at = excluded.scored_at
    returning 1
  )
  select count(*)::integer from written
$$;


--
-- Name: FUNCTION record_review_scores(p_model_version_id uuid, p_review_ids uuid[], p_scores real[]); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.record_review_scores(p_model_version_id uuid, p_review_ids uuid[], p_scores real[]) IS 'Writes a chunk''s review scores in one statement (reviews deleted meanwhile are skipped).';


--
-- Name: record_scraped_page(bigint, jsonb, jsonb); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.record_scraped_page(p_item_id bigint, p_page jsonb, p_products jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    AS $_$
declare
  v_tenant_id uuid;
  v_host text := lower(p_page ->> 'host');
  v_seller_id uuid;
  v_counts jsonb;
  v_page_id uuid;
begin
  select i.tenant_id into v_tenant_id from app_public.batch_items i where i.id = p_item_id;
  if v_tenant_id is null then
    raise exception 'no batch item %', p_item_id using errcode = 'P0002';
  end if;
  if v_host is null or v_host = '' then
    raise exception 'the page has no host' using errcode = '22023';
  end if;

  -- The storefront's seller: the one with this domain, else one named after the host.
  select s.id into v_seller_id from app_public.sellers s
    where s.tenant_id = v_tenant_id and s.domain = v_host
    order by s.created_at, s.id limit 1;
  if v_seller_id is null then
    insert into app_public.sellers as s (tenant_id, name, domain)
    values (v_tenant_id, left(v_host, 200),
      -- sellers.domain's own check: hosts it refuses (IPv6 literals, underscores) stay without one.
      case when v_host ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$' then v_host end)
    on conflict (tenant_id, name) do update set domain = coalesce(s.domain, excluded.domain)
    returning s.id into v_seller_id;
  end if;

  -- Products by SKU. Without a SKU (nor productID), a product is known by a hash of its URL, or
  -- of its name, so that scraping the page again finds it. Fields the page leaves out (no
  -- description, no category) keep what is stored.
  with listed as (
    select distinct on (sku) sku, name, description, category, price, currency
    from (
      select left(coalesce(nullif(btrim(e.p ->> 'sku'), ''),
                           'sha256:' || left(encode(sha256(convert_to(coalesce(e.p ->> 'url', btrim(e.p ->> 'name')), 'UTF8')), 'hex'), 32)), 100) as sku,
        left(btrim(e.p ->> 'name'), 300) as name,
        left(coalesce(e.p ->> 'description', ''), 20000) as description,
        left(coalesce(e.p ->> 'category', ''), 200) as category,
        round((e.p ->> 'price')::numeric, 2) as price,
        upper(e.p ->> 'currency') as currency,
        e.n
      from jsonb_array_elements(coalesce(p_products, '[]')) with ordinality as e(p, n)
    ) candidates
    order by sku, n
  ), written as (
    insert into app_public.products as p (tenant_id, seller_id, sku, name, description, category, price, currency)
    select v_tenant_id, v_seller_id, sku, name, description, category, price, currency from listed
    on conflict (seller_id, sku) do update set
      name = excluded.name,
      description = coalesce(nullif(excluded.description, ''), p.description),
      category = coalesce(nullif(excluded.category, ''), p.category),
      price = excluded.price,
      currency = excluded.currency
    where (p.name, p.description, p.category, p.price, p.currency) is distinct from
      (excluded.name, coalesce(nullif(excluded.description, ''), p.description),
       coalesce(nullif(excluded.category, ''), p.category), excluded.price, excluded.currency)
    returning (p.xmax = 0) as inserted
  )
  select jsonb_build_object(
    'products_found', (select count(*) from listed),
    'products_inserted', count(*) filter (where inserted),
    'products_updated', count(*) filter (where not inserted),
    'products_unchanged', (select count(*) from listed) - count(*))
  into v_counts
  from written;

  insert into app_public.scraped_pages as sp (
    tenant_id, url, final_url, http_status, content_type, title, meta_description, canonical_url, language,
    products_found, seller_id, batch_item_id, fetched_at)
  values (
    v_tenant_id, p_page ->> 'url', p_page ->> 'final_url', (p_page ->> 'http_status')::smallint,
    left(p_page ->> 'content_type', 200), left(p_page ->> 'title', 1000), left(p_page ->> 'meta_description', 5000),
    -- A canonical URL too long to store is no canonical URL (a truncated one would be wrong).
    case when length(p_page ->> 'canonical_url') <= 2048 then p_page ->> 'canonical_url' end,
    left(p_page ->> 'language', 35),
    (v_counts ->> 'products_found')::integer, v_seller_id, p_item_id, now())
  on conflict (tenant_id, url) do update set
    final_url = excluded.final_url, http_status = excluded.http_status, content_type = excluded.content_type,
    title = excluded.title, meta_description = excluded.meta_description, canonical_url = excluded.canonical_url,
    language = excluded.language, products_found = excluded.products_found, seller_id = excluded.seller_id,
    batch_item_id = excluded.batch_item_id, fetched_at = excluded.fetched_at
  returning sp.id into v_page_id;

  return v_counts || jsonb_build_object('page_id', v_page_id, 'seller_id', v_seller_id);
end
$_$;


--
-- Name: FUNCTION record_scraped_page(p_item_id bigint, p_page jsonb, p_products jsonb); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.record_scraped_page(p_item_id bigint, p_page jsonb, p_products jsonb) IS 'Stores what a `scrape_pages` item found, for the item''s tenant: the page (`{url, final_url, host, http_status, content_type, title, meta_description, canonical_url, language}`) into scraped_pages, and its products (`[{sku, url, name, description, category, price, currency}]`, validated) upserted by SKU for the seller whose domain is the host (created if none). Returns `{products_found, products_inserted, products_updated, products_unchanged, page_id, seller_id}`.';


--
-- Name: record_seller_scores(uuid, uuid[], real[], real[], integer[], integer[]); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.record_seller_scores(p_model_version_id uuid, p_seller_ids uuid[], p_scores real[], p_confidences real[], p_product_counts integer[], p_review_counts integer[]) RETURNS integer
    LANGUAGE sql
    AS $$
  with written as (
    insert into app_public.seller_scores as s (seller_id, tenant_id, score, confidence, product_count, review_count, model_version_id, scored_at)
    select x.seller_id, sl.tenant_id, least(greatest(x.score, 0), 1), least(greatest(x.confidence, 0), 1), x.product_count, x.review_count, p_model_version_id, now()
    from unnest(p_seller_ids, p_scores, p_confidences, p_product_counts, p_review_counts) as x(seller_id, score, confidence, product_count, review_count)
    join app_public.sellers sl on sl.id = x.seller_id
    on conflict (seller_id) do update set score = excluded.score, confidence = excluded.confidence,
      product_count = excluded.product_count, review_count = excluded.review_count,
      model_version_id = excluded.model_version_id, scored_at = excluded.scored_at
    returning 1
  )
  select count(*)::integer from written
$$;


--
-- Name: FUNCTION record_seller_scores(p_model_version_id uuid, p_seller_ids uuid[], p_scores real[], p_confidences real[], p_product_counts integer[], p_review_counts integer[]); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.record_seller_scores(p_model_version_id uuid, p_seller_ids uuid[], p_scores real[], p_confidences real[], p_product_counts integer[], p_review_counts integer[]) IS 'Writes a chunk''s seller scores in one statement.';


--
-- Name: record_worker_heartbeat(text, text, integer, integer, bigint[]); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.record_worker_heartbeat(p_worker_id text, p_hostname text, p_pid integer, p_concurrency integer, p_running_job_ids bigint[], OUT dead_workers integer, OUT lost_jobs integer) RETURNS record
    LANGUAGE plpgsql
    AS $$
begin
  -- Called on the worker's liveness connection, which takes the worker's lock the first time.
  -- (A lock still held by an older connection of the same worker is as good.)
  if not app_private.worker_holds_lock(p_worker_id) then
    perform pg_try_advisory_lock(46150, app_private.worker_lock_key(p_worker_id));
  end if;
  insert into app_private.workers as w (id, hostname, pid, concurrency)
  values (p_worker_id, p_hostname, p_pid, p_concurrency)
  on conflict (id) do update set last_seen_at = now();
  lost_jobs := app_private.return_lost_jobs(p_worker_id, p_running_job_ids);
  -- What a peer that died held is given back now, not at the next crontab minute, and whether
  -- or not a worker is free to run the sweeper.
  dead_workers := app_private.release_dead_workers();
end
$$;


--
-- Name: FUNCTION record_worker_heartbeat(p_worker_id text, p_hostname text, p_pid integer, p_concurrency integer, p_running_job_ids bigint[], OUT dead_workers integer, OUT lost_jobs integer); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.record_worker_heartbeat(p_worker_id text, p_hostname text, p_pid integer, p_concurrency integer, p_running_job_ids bigint[], OUT dead_workers integer, OUT lost_jobs integer) IS 'Records that a worker is alive, holding its lock on this connection, gives back the jobs locked for it that it does not run (return_lost_jobs; p_running_job_ids are those it runs), and gives back what dead workers held. Returns how many dead workers it found and how many lost jobs it gave back.';


--
-- Name: redeem_sign_in_code(text); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.redeem_sign_in_code(p_code text) RETURNS TABLE(role text, tenant_id uuid)
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
  update app_private.sign_in_codes c set redeemed_at = now()
  where c.code_hash = sha256(convert_to(p_code, 'UTF8')) and c.redeemed_at is null and c.expires_at > now()
  returning c.role, c.tenant_id
$$;


--
-- Name: FUNCTION redeem_sign_in_code(p_code text); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.redeem_sign_in_code(p_code text) IS 'Marks a sign-in code used and returns whom it signs in as; no row for a code that is unknown, used or expired. Anyone may try a code (it is the secret: 256 random bits).';


--
-- Name: release_dead_workers(interval, text[]); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.release_dead_workers(p_stale_after interval DEFAULT app_private.worker_stale_after(), p_holders text[] DEFAULT '{}'::text[]) RETURNS integer
    LANGUAGE plpgsql
    AS $$
declare
  v_dead text[];
  v_worker_id text;
  v_held bigint[];
begin
  -- One transaction at a time does this (heartbeats of every worker try, every second).
  if not pg_try_advisory_xact_lock(46150, 0) then
    return 0;
  end if;
  v_dead := array(select distinct id from unnest(app_private.dead_worker_ids(p_stale_after) || p_holders) as d(id));
  foreach v_worker_id in array v_dead loop
    v_held := app_private.held_item_ids(v_worker_id);
    insert into app_private.sweeper_repairs (repair, batch_id, worker_id, details)
    select 'released_items', i.batch_id, v_worker_id, jsonb_build_object('items', count(*))
    from app_public.batch_items i
    where i.id = any(v_held) and i.locked_by = v_worker_id
    group by i.batch_id;
    perform app_private.release_items_of_dead_worker(v_worker_id, v_held);
    -- Graphile Worker alone would leave its jobs locked for four hours.
    perform graphile_worker.force_unlock_workers(array[v_worker_id]);
    insert into app_private.sweeper_repairs (repair, worker_id, details)
    select 'removed_dead_worker', v_worker_id, coalesce(
      (select jsonb_build_object('last_seen_at', w.last_seen_at, 'hostname', w.hostname, 'pid', w.pid)
       from app_private.workers w where w.id = v_worker_id), '{}');
    delete from app_private.workers where id = v_worker_id;
  end loop;
  return cardinality(v_dead);
end
$$;


--
-- Name: FUNCTION release_dead_workers(p_stale_after interval, p_holders text[]); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.release_dead_workers(p_stale_after interval, p_holders text[]) IS 'Gives back what dead workers held (those of dead_worker_ids, and p_holders: ids the sweeper found holding items without a heartbeat row): their processing items go back to the queue (their attempts unspent; see release_items_of_dead_worker), their jobs are unlocked, their heartbeat rows go, each repair logged in sweeper_repairs. Run by every heartbeat and by the sweeper; returns how many workers it found dead.';


--
-- Name: release_host_lease(text, integer, text); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.release_host_lease(p_host text, p_slot integer, p_holder text) RETURNS boolean
    LANGUAGE sql
    AS $$
  with released as (
    delete from app_private.host_leases where host = p_host and slot = p_slot and holder = p_holder returning 1
  )
  select exists (select 1 from released)
$$;


--
-- Name: FUNCTION release_host_lease(p_host text, p_slot integer, p_holder text); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.release_host_lease(p_host text, p_slot integer, p_holder text) IS 'Gives back a slot taken by acquire_host_lease; false when the holder no longer had it (the lease had lapsed and was taken by another).';


--
-- Name: release_items(text, bigint[], text, boolean); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.release_items(p_worker_id text, p_item_ids bigint[], p_reason text, p_attempt_counts boolean) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION release_items(p_worker_id text, p_item_ids bigint[], p_reason text, p_attempt_counts boolean); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.release_items(p_worker_id text, p_item_ids bigint[], p_reason text, p_attempt_counts boolean) IS 'Gives a worker''s processing items (all of them when p_item_ids is null) back to the queue (the update trigger enqueues them again). When the attempt counts (the worker died while running them), an item that has used its last attempt fails with p_reason instead, so an item that kills its worker can''t loop forever; when it does not (a clean shutdown before the item ran), the attempt is given back.';


--
-- Name: release_items_of_dead_worker(text, bigint[]); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.release_items_of_dead_worker(p_worker_id text, p_item_ids bigint[]) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION release_items_of_dead_worker(p_worker_id text, p_item_ids bigint[]); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.release_items_of_dead_worker(p_worker_id text, p_item_ids bigint[]) IS 'Gives those of p_item_ids that a dead worker still holds (see held_item_ids) back to the queue with their attempt unspent (the item did not fail; its worker died), counting the interruption: an item whose worker dies the third time it runs it fails instead, so that an item that kills its worker can''t loop for ever. Returns how many items it released.';


--
-- Name: require_admin(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.require_admin() RETURNS void
    LANGUAGE plpgsql STABLE
    AS $$
begin
  if not app_public.current_user_is_admin() then
    raise exception 'only an admin may do this' using errcode = 'FLADM';
  end if;
end
$$;


--
-- Name: FUNCTION require_admin(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.require_admin() IS 'Raises FLADM unless the request runs as app_admin.';


--
-- Name: require_seller(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.require_seller() RETURNS uuid
    LANGUAGE plpgsql STABLE
    AS $$
declare
  v_seller_id uuid := app_public.current_seller_id();
begin
  if v_seller_id is null or current_user <> 'app_seller' then
    raise exception 'only a seller may do this (a token of the app_seller role)' using errcode = 'FLROL';
  end if;
  -- Runs as the caller: the seller must be one of the token's tenant.
  perform 1 from app_public.sellers s where s.id = v_seller_id and s.tenant_id = app_public.current_tenant_id();
  if not found then
    raise exception 'the token''s seller_id % is no seller of its tenant', v_seller_id using errcode = 'FLROL';
  end if;
  return v_seller_id;
end
$$;


--
-- Name: FUNCTION require_seller(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.require_seller() IS 'The seller the request acts for, or FLROL when it does not run as `app_seller` of an existing seller of its tenant.';


--
-- Name: require_tenant_id(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.require_tenant_id() RETURNS uuid
    LANGUAGE plpgsql STABLE
    AS $$
declare
  v_tenant_id uuid := app_public.current_tenant_id();
begin
  if v_tenant_id is null then
    raise exception 'no tenant: this call needs the JWT claim tenant_id (setting jwt.claims.tenant_id)'
      using errcode = 'FLTEN';
  end if;
  -- A token outlives a tenant removed after it was made (or names one that never was): its
  -- writes would otherwise fail on a foreign key, in words that do not say why.
  perform 1 from app_public.tenants t where t.id = v_tenant_id;
  if not found then
    raise exception 'no tenant %: the request''s tenant_id names no tenant', v_tenant_id
      using errcode = 'FLTEN', hint = 'The tenant was removed, or the token was made for another installation.';
  end if;
  return v_tenant_id;
end
$$;


--
-- Name: FUNCTION require_tenant_id(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.require_tenant_id() IS 'The current tenant, or error FLTEN when the request carries none, or names a tenant that does not exist.';


--
-- Name: retry_at(uuid, integer); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.retry_at(p_batch_id uuid, p_failed_attempt integer) RETURNS timestamp with time zone
    LANGUAGE sql STABLE
    AS $$
  select now() + least(k.retry_delay * power(2, p_failed_attempt - 1), k.max_retry_delay)
  from app_public.batches b join app_public.batch_kinds k on k.kind = b.kind
  where b.id = p_batch_id and p_failed_attempt < k.max_attempts
$$;


--
-- Name: FUNCTION retry_at(p_batch_id uuid, p_failed_attempt integer); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.retry_at(p_batch_id uuid, p_failed_attempt integer) IS 'When an item of the batch whose attempt number p_failed_attempt failed may run again: after the kind''s retry_delay, doubled at each further attempt up to max_retry_delay; null when that attempt was the kind''s last.';


--
-- Name: return_lost_jobs(text, bigint[]); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.return_lost_jobs(p_worker_id text, p_running_job_ids bigint[]) RETURNS integer
    LANGUAGE plpgsql
    AS $$
declare
  v_returned bigint[];
begin
  with returned as (
    -- As Graphile Worker gives back a job it fetched and did not run: its attempt too.
    update graphile_worker._private_jobs j set attempts = greatest(0, j.attempts - 1), locked_by = null, locked_at = null
    where j.locked_by = p_worker_id
      -- A fetch whose answer is on its way is not lost: it was locked moments ago.
      and j.locked_at < now() - app_private.worker_stale_after()
      and j.id <> all(p_running_job_ids)
    returning j.id, j.job_queue_id
  ), unlocked_queues as (
    update graphile_worker._private_job_queues q set locked_by = null, locked_at = null
    where q.locked_by = p_worker_id and q.id in (select r.job_queue_id from returned r)
  )
  select coalesce(array_agg(r.id order by r.id), '{}') into v_returned from returned r;
  if cardinality(v_returned) > 0 then
    insert into app_private.sweeper_repairs (repair, worker_id, details)
    values ('returned_lost_jobs', p_worker_id, jsonb_build_object('jobs', v_returned));
  end if;
  return cardinality(v_returned);
end
$$;


--
-- Name: FUNCTION return_lost_jobs(p_worker_id text, p_running_job_ids bigint[]); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.return_lost_jobs(p_worker_id text, p_running_job_ids bigint[]) IS 'Gives back the jobs locked for a live worker that it is not running (p_running_job_ids: those it runs, and those it finished moments ago): a fetch that committed while its answer was lost to a broken connection. Jobs locked within worker_stale_after are left alone, their answer may be on its way. Each job''s attempt is given back and its named queue unlocked, the repair logged in sweeper_repairs. Returns how many jobs it gave back.';


--
-- Name: review_body_key(text); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.review_body_key(p_body text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select md5(lower(btrim(p_body)))
$$;


--
-- Name: FUNCTION review_body_key(p_body text); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.review_body_key(p_body text) IS 'The key under which copies of a review text are counted.';


--
-- Name: review_features(uuid[]); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.review_features(p_review_ids uuid[]) RETURNS TABLE(review_id uuid, title text, body text, rating integer, verified_purchase boolean, duplicate_count integer, author_review_count integer, product_mean_rating real, product_review_count integer, same_day_product_reviews integer)
    LANGUAGE sql STABLE
    AS $$
  select r.id, r.title, r.body, r.rating::integer, r.verified_purchase,
    case when r.body = '' then 0 else t.copies - 1 end,
    a.reviews, (p.rating_sum::real / p.reviews)::real, p.reviews,
    (select count(*) from app_public.reviews b where b.product_id = r.product_id
       and b.created_at between r.created_at - interval '12 hours' and r.created_at + interval '12 hours')::integer
  from app_public.reviews r
  join app_private.review_text_counts t on t.tenant_id = r.tenant_id and t.body_key = app_private.review_body_key(r.body)
  join app_private.review_author_counts a on a.tenant_id = r.tenant_id and a.author = r.author
  join app_private.product_review_stats p on p.product_id = r.product_id
  where r.id = any(p_review_ids)
$$;


--
-- Name: FUNCTION review_features(p_review_ids uuid[]); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.review_features(p_review_ids uuid[]) IS 'What the review scorer needs to know about each review of a chunk, in one query (counts read from the review counters).';


--
-- Name: reviews_due(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.reviews_due(p_tenant_id uuid) RETURNS SETOF uuid
    LANGUAGE sql STABLE
    AS $$
  select r.id from app_public.reviews r
  left join app_public.review_scores s on s.review_id = r.id
  where r.tenant_id = p_tenant_id
    and (s.review_id is null or s.scored_at < r.updated_at
         or s.model_version_id is distinct from (select id from app_public.model_versions where kind = 'review_scorer' and is_active))
$$;


--
-- Name: FUNCTION reviews_due(p_tenant_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.reviews_due(p_tenant_id uuid) IS 'Reviews of the tenant that need a (new) score.';


--
-- Name: schedule_retrain(timestamp with time zone); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.schedule_retrain(p_run_at timestamp with time zone) RETURNS void
    LANGUAGE sql
    AS $$
  select graphile_worker.add_job(
    'retrain_recommender', '{}'::json,
    queue_name => 'recommender',
    run_at => p_run_at,
    job_key => 'retrain_recommender',
    job_key_mode => 'replace');
$$;


--
-- Name: FUNCTION schedule_retrain(p_run_at timestamp with time zone); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.schedule_retrain(p_run_at timestamp with time zone) IS 'Puts the one retrain_recommender job (queue `recommender`) at this time, replacing the waiting one: the job key debounces bursts of changes into one retrain.';


--
-- Name: seller_graph(uuid[]); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.seller_graph(p_seller_ids uuid[]) RETURNS TABLE(seller_ids uuid[], product_seller bigint[], review_product bigint[], review_quality real[], review_rating real[])
    LANGUAGE sql STABLE
    AS $$
  -- The subgraph of these sellers as index arrays: sellers 0..S-1, products 0..P-1, reviews.
  with sellers as (
    select id, (row_number() over (order by id) - 1) as i from unnest(p_seller_ids) as id
  ), products as (
    select p.id, s.i as seller_i, (row_number() over (order by p.id) - 1) as i
    from app_public.products p join sellers s on s.id = p.seller_id
  ), reviews as (
    select pr.i as product_i, 1 - coalesce(rs.score, 0.5) as quality, (r.rating - 1) / 4.0 as rating
    from app_public.reviews r join products pr on pr.id = r.product_id
    left join app_public.review_scores rs on rs.review_id = r.id
  )
  select
    (select coalesce(array_agg(id order by i), '{}') from sellers),
    (select coalesce(array_agg(seller_i order by i), '{}') from products),
    (select coalesce(array_agg(product_i), '{}') from reviews),
    (select coalesce(array_agg(quality::real), '{}') from reviews),
    (select coalesce(array_agg(rating::real), '{}') from reviews)
$$;


--
-- Name: FUNCTION seller_graph(p_seller_ids uuid[]); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.seller_graph(p_seller_ids uuid[]) IS 'The seller–product–review graph of a chunk of sellers, as the seller scorer''s input arrays (a review without a score counts half).';


--
-- Name: settle_batch(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.settle_batch(p_batch_id uuid) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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


--
-- Name: FUNCTION settle_batch(p_batch_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.settle_batch(p_batch_id uuid) IS 'Moves a batch to the status its counters imply (see batch_status_for); on reaching a terminal status stamps finished_at and enqueues aggregate_batch. Callers hold the batch''s row lock (see apply_status_deltas for how exactly one transaction finalizes a batch).';


--
-- Name: settle_batch_if_alone(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.settle_batch_if_alone(p_batch_id uuid) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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


--
-- Name: FUNCTION settle_batch_if_alone(p_batch_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.settle_batch_if_alone(p_batch_id uuid) IS 'For a transaction that finished items of a batch whose other unfinished items are all held by workers (none pending): settles the batch if it holds the batch''s row alone; else enqueues finalize_batch to settle it once the other holders have committed, and names the batch in the setting finishline.batch_to_finalize (for advance_items'' caller, which can do it sooner). Returns the batch''s status.';


--
-- Name: start_items(uuid, bigint[], text); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.start_items(p_batch_id uuid, p_item_ids bigint[], p_worker_id text) RETURNS TABLE(id bigint, tenant_id uuid, payload jsonb, attempts integer)
    LANGUAGE sql
    AS $$
  select a.id, a.tenant_id, a.payload, a.attempts from app_private.advance_items(p_worker_id, p_batch_id, p_item_ids, '[]') a
  where a.id is not null
$$;


--
-- Name: FUNCTION start_items(p_batch_id uuid, p_item_ids bigint[], p_worker_id text); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.start_items(p_batch_id uuid, p_item_ids bigint[], p_worker_id text) IS 'The claim half of advance_items, as rows: claims the chunk''s items that are still pending and due, for one worker, with their tenant and payload, and returns those the worker holds already with their attempt unchanged.';


--
-- Name: start_review_scoring(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.start_review_scoring(p_tenant_id uuid) RETURNS app_public.batches
    LANGUAGE sql
    AS $$
  select * from app_private.start_scoring_run(p_tenant_id, 'score_reviews',
    array(select app_private.reviews_due(p_tenant_id)))
$$;


--
-- Name: FUNCTION start_review_scoring(p_tenant_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.start_review_scoring(p_tenant_id uuid) IS 'Starts a score_reviews run over the tenant''s reviews that are due.';


--
-- Name: start_scoring_run(uuid, text, uuid[], integer); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.start_scoring_run(p_tenant_id uuid, p_kind text, p_ids uuid[], p_chunk integer DEFAULT 1000) RETURNS app_public.batches
    LANGUAGE plpgsql
    AS $$
declare
  v_batch app_public.batches;
  v_field text := case p_kind when 'score_reviews' then 'review_ids' else 'seller_ids' end;
begin
  -- Two runs of one kind never overlap for a tenant: while one is unfinished, it is the answer.
  perform pg_advisory_xact_lock(hashtext('finishline:' || p_kind), hashtext(p_tenant_id::text));
  select * into v_batch from app_public.batches
    where tenant_id = p_tenant_id and kind = p_kind and finished_at is null
    order by created_at limit 1;
  if found then
    return v_batch;
  end if;
  insert into app_public.batches (tenant_id, kind, metadata)
    values (p_tenant_id, p_kind, jsonb_build_object('ids', coalesce(cardinality(p_ids), 0)))
    returning * into v_batch;
  insert into app_public.batch_items (batch_id, tenant_id, payload)
  select v_batch.id, p_tenant_id, jsonb_build_object(v_field, jsonb_agg(id))
  from (select id, (row_number() over (order by id) - 1) / p_chunk as chunk from unnest(p_ids) as id) ids
  group by chunk;
  select * into v_batch from app_public.batches where id = v_batch.id;
  return v_batch;
end
$$;


--
-- Name: FUNCTION start_scoring_run(p_tenant_id uuid, p_kind text, p_ids uuid[], p_chunk integer); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.start_scoring_run(p_tenant_id uuid, p_kind text, p_ids uuid[], p_chunk integer) IS 'Creates a score_reviews or score_sellers batch for the tenant with one item per chunk of ids, unless one is still running (that one is returned). With no ids the batch is empty and completes when the transaction commits.';


--
-- Name: start_seller_scoring(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.start_seller_scoring(p_tenant_id uuid) RETURNS app_public.batches
    LANGUAGE sql
    AS $$
  -- Sellers whose reviews were scored since their own score, and sellers never scored.
  select * from app_private.start_scoring_run(p_tenant_id, 'score_sellers', array(
    select s.id from app_public.sellers s
    left join app_public.seller_scores ss on ss.seller_id = s.id
    where s.tenant_id = p_tenant_id
      and (ss.seller_id is null or exists (
        select 1 from app_public.products p join app_public.reviews r on r.product_id = p.id
        join app_public.review_scores rs on rs.review_id = r.id
        where p.seller_id = s.id and rs.scored_at > ss.scored_at))))
$$;


--
-- Name: FUNCTION start_seller_scoring(p_tenant_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.start_seller_scoring(p_tenant_id uuid) IS 'Starts a score_sellers run over the tenant''s sellers affected by new review scores (and those never scored).';


--
-- Name: model_versions; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.model_versions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    kind text NOT NULL,
    trained_at timestamp with time zone DEFAULT now() NOT NULL,
    training_rows integer NOT NULL,
    metrics jsonb DEFAULT '{}'::jsonb NOT NULL,
    is_active boolean DEFAULT false NOT NULL,
    CONSTRAINT model_versions_kind_check CHECK ((kind = ANY (ARRAY['review_scorer'::text, 'seller_scorer'::text, 'recommender'::text]))),
    CONSTRAINT model_versions_metrics_check CHECK ((jsonb_typeof(metrics) = 'object'::text)),
    CONSTRAINT model_versions_training_rows_check CHECK ((training_rows >= 0))
);


--
-- Name: TABLE model_versions; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.model_versions IS '@behavior -insert -update -delete
A trained model. At most one version of each kind is active: the one scoring and recommending now.';


--
-- Name: COLUMN model_versions.id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.model_versions.id IS 'The version''s id.';


--
-- Name: COLUMN model_versions.kind; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.model_versions.kind IS '`review_scorer`, `seller_scorer` or `recommender`.';


--
-- Name: COLUMN model_versions.trained_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.model_versions.trained_at IS 'When it was trained (or built).';


--
-- Name: COLUMN model_versions.training_rows; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.model_versions.training_rows IS 'How many rows it learnt from.';


--
-- Name: COLUMN model_versions.metrics; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.model_versions.metrics IS 'How good it is, on held-out data where it learns (e.g. `auc`, `log_loss`), and why it was or was not activated.';


--
-- Name: COLUMN model_versions.is_active; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.model_versions.is_active IS 'Whether this is the version in use for its kind.';


--
-- Name: store_model_version(text, bytea, integer, jsonb, boolean); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.store_model_version(p_kind text, p_onnx bytea, p_training_rows integer, p_metrics jsonb, p_activate boolean) RETURNS app_public.model_versions
    LANGUAGE plpgsql
    AS $$
declare
  v_version app_public.model_versions;
begin
  if p_activate then
    update app_public.model_versions set is_active = false where kind = p_kind and is_active;
  end if;
  insert into app_public.model_versions (kind, training_rows, metrics, is_active)
    values (p_kind, p_training_rows, p_metrics, p_activate)
    returning * into v_version;
  insert into app_private.model_files (model_version_id, onnx) values (v_version.id, p_onnx);
  return v_version;
end
$$;


--
-- Name: FUNCTION store_model_version(p_kind text, p_onnx bytea, p_training_rows integer, p_metrics jsonb, p_activate boolean); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.store_model_version(p_kind text, p_onnx bytea, p_training_rows integer, p_metrics jsonb, p_activate boolean) IS 'Stores a model version and its ONNX bytes; when activated, the previous active version of the kind is retired in the same transaction, so readers never see two or none.';


--
-- Name: store_recommendations(bytea, integer, jsonb, bigint[], uuid[], uuid[], uuid[], text[], real[], uuid[], uuid[], real[]); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.store_recommendations(p_onnx bytea, p_training_rows integer, p_metrics jsonb, p_changes_seen bigint[], p_removed uuid[], p_product_ids uuid[], p_tenant_ids uuid[], p_content_keys text[], p_kth_scores real[], p_list_product_ids uuid[], p_recommended_ids uuid[], p_scores real[]) RETURNS app_public.model_versions
    LANGUAGE plpgsql
    AS $$
declare
  v_version app_public.model_versions;
begin
  update app_public.model_versions set is_active = false where kind = 'recommender' and is_active;
  insert into app_public.model_versions (kind, training_rows, metrics, is_active)
    values ('recommender', p_training_rows, p_metrics, true)
    returning * into v_version;
  -- The embedding graph is stored with the version that introduced it (a full rebuild), not
  -- again with every incremental update.
  if p_onnx is not null then
    insert into app_private.model_files (model_version_id, onnx) values (v_version.id, p_onnx);
  end if;

  -- (Joins with unnest, not `= any(...)`: the arrays may hold a whole catalogue.)
  delete from app_private.recommender_inputs i using unnest(p_removed) as d(product_id) where i.product_id = d.product_id;
  delete from app_public.product_recommendations r
    using (select unnest(p_removed) union select unnest(p_product_ids)) as d(product_id)
    where r.product_id = d.product_id;
  -- A tenant deleted while the retrain ran gets none: its recommender state went with it.
  insert into app_private.recommender_inputs (product_id, tenant_id, content_key, kth_score, model_version_id)
    select i.product_id, i.tenant_id, i.content_key, i.kth_score, v_version.id
    from unnest(p_product_ids, p_tenant_ids, p_content_keys, p_kth_scores) as i(product_id, tenant_id, content_key, kth_score)
    join app_public.tenants t on t.id = i.tenant_id
  on conflict (product_id) do update
    set tenant_id = excluded.tenant_id, content_key = excluded.content_key,
        kth_score = excluded.kth_score, model_version_id = excluded.model_version_id;
  -- Lists come in rank order; a product deleted while the retrain ran gets none.
  insert into app_public.product_recommendations (product_id, rank, recommended_product_id, score, model_version_id, tenant_id)
    select l.product_id, row_number() over (partition by l.product_id order by l.ord), l.recommended_id, l.score, v_version.id, p.tenant_id
    from unnest(p_list_product_ids, p_recommended_ids, p_scores) with ordinality as l(product_id, recommended_id, score, ord)
    join app_public.products p on p.id = l.product_id;

  perform app_private.consume_recommender_changes(p_changes_seen);
  return v_version;
end
$$;


--
-- Name: FUNCTION store_recommendations(p_onnx bytea, p_training_rows integer, p_metrics jsonb, p_changes_seen bigint[], p_removed uuid[], p_product_ids uuid[], p_tenant_ids uuid[], p_content_keys text[], p_kth_scores real[], p_list_product_ids uuid[], p_recommended_ids uuid[], p_scores real[]); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.store_recommendations(p_onnx bytea, p_training_rows integer, p_metrics jsonb, p_changes_seen bigint[], p_removed uuid[], p_product_ids uuid[], p_tenant_ids uuid[], p_content_keys text[], p_kth_scores real[], p_list_product_ids uuid[], p_recommended_ids uuid[], p_scores real[]) IS 'Makes a retrain''s result the active recommender in one transaction: a new model version (with the ONNX bytes when given), the recomputed lists (replacing those of p_product_ids and p_removed), what they were computed from, and the changes seen (the ids p_changes_seen) consumed. Readers see the old recommendations or the new, never a mix.';


--
-- Name: sweep_batches(interval, interval); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.sweep_batches(p_stale_after interval DEFAULT app_private.worker_stale_after(), p_idle_after interval DEFAULT '00:05:00'::interval) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
declare
  v_counts jsonb := '{}';
  v_row record;
  v_counters app_private.batch_counters;
  v_check record;
  v_settled integer;
  v_n integer;
  v_rowless_holders text[] := '{}';
  v_checked_finished uuid[] := '{}';
begin
  -- 1. Dead workers: what they held goes back (their heartbeats usually did this already).
  v_n := app_private.release_dead_workers(p_stale_after);
  if v_n > 0 then
    v_counts := v_counts || jsonb_build_object('dead_workers', v_n);
  end if;

  -- 2. Counters against the items, for unfinished batches and those finished within the hour
  --    that no sweep has found right since they finished (counters_checked_at).
  --    Read first without a lock (check_batch_counters), so that a sweep holds up no batch whose
  --    counters are right. Only a batch found wrong is locked and read again: every transaction
  --    that finishes items or adds them locks that row first, so none is half done then.
  --    Claims and items given back take no lock, so pending and processing are compared as one
  --    (their sum is all a claim cannot change), and written from the count when corrected.
  --    A batch whose items were pruned keeps its counts without its items: nothing to check.
  --    With counters right, a batch whose status is not what they imply is settled: a
  --    finalization that never ran (its finalize_batch job lost) happens here.
  v_n := 0;
  v_settled := 0;
  for v_row in
    select b.id, b.finished_at from app_public.batches b where b.finished_at is null
    union all
    select b.id, b.finished_at from app_public.batches b
    join app_private.batch_counter_slots s on s.batch_id = b.id and s.slot = 0
    where b.finished_at > now() - interval '1 hour' and b.items_pruned_at is null
      and (s.counters_checked_at is null or s.counters_checked_at < b.finished_at)
  loop
    select * into v_check from app_private.check_batch_counters(v_row.id, p_stale_after);
    continue when not found;
    v_rowless_holders := v_rowless_holders || v_check.rowless_holders;
    if v_check.counters_agree and v_check.status_agrees then
      if v_row.finished_at is not null then
        v_checked_finished := v_checked_finished || v_row.id;
      end if;
      continue;
    end if;
    perform from app_public.batches b where b.id = v_row.id for no key update skip locked;
    continue when not found;
    select * into v_check from app_private.check_batch_counters(v_row.id, p_stale_after);
    v_counters := v_check.counters;
    if not v_check.counters_agree then
      delete from app_private.batch_counter_slots where batch_id = v_row.id and slot <> 0;
      update app_private.batch_counter_slots set
        pending_items = v_check.pending_items, processing_items = v_check.processing_items, succeeded_items = v_check.succeeded_items,
        failed_items = v_check.failed_items, cancelled_items = v_check.cancelled_items,
        last_item_finished_at = v_counters.last_item_finished_at, updated_at = now()
      where batch_id = v_row.id and slot = 0;
      update app_public.batches set total_items = v_check.total_items
      where id = v_row.id and total_items <> v_check.total_items;
      insert into app_private.sweeper_repairs (repair, batch_id, details)
      values ('corrected_counters', v_row.id, jsonb_build_object(
        'found', jsonb_build_object('pending', v_counters.pending_items, 'processing', v_counters.processing_items,
          'succeeded', v_counters.succeeded_items, 'failed', v_counters.failed_items, 'cancelled', v_counters.cancelled_items),
        'actual', jsonb_build_object('pending', v_check.pending_items, 'processing', v_check.processing_items,
          'succeeded', v_check.succeeded_items, 'failed', v_check.failed_items, 'cancelled', v_check.cancelled_items),
        'status', app_private.settle_batch(v_row.id)));
      v_n := v_n + 1;
    elsif not v_check.status_agrees then
      insert into app_private.sweeper_repairs (repair, batch_id, details)
      values ('settled_batch', v_row.id, jsonb_build_object('found', v_check.status, 'status', app_private.settle_batch(v_row.id)));
      v_settled := v_settled + 1;
    end if;
  end loop;
  update app_private.batch_counter_slots set counters_checked_at = now()
  where batch_id = any(v_checked_finished) and slot = 0;
  if v_n > 0 then
    v_counts := v_counts || jsonb_build_object('corrected_counters', v_n);
  end if;
  if v_settled > 0 then
    v_counts := v_counts || jsonb_build_object('settled_batches', v_settled);
  end if;
  -- Items held by an id with no heartbeat row (a worker that died before its first beat, or whose
  -- job was failed before it died): only this count, which reads the items, finds them.
  if cardinality(v_rowless_holders) > 0 then
    v_n := app_private.release_dead_workers(p_stale_after, v_rowless_holders);
    if v_n > 0 then
      v_counts := v_counts || jsonb_build_object('dead_workers', coalesce((v_counts->>'dead_workers')::integer, 0) + v_n);
    end if;
  end if;

  -- 3. Finished batches with neither a summary nor a job to write one.
  with missing as (
    select b.id from app_public.batches b
    where b.finished_at is not null
      and not exists (select 1 from app_public.run_summaries s where s.batch_id = b.id)
      and not exists (select 1 from graphile_worker.jobs j
                      where j.key = 'aggregate_batch:' || b.id and j.attempts < j.max_attempts)
  ), enqueued as (
    select m.id, graphile_worker.add_job('aggregate_batch', json_build_object('batch_id', m.id),
      job_key => 'aggregate_batch:' || m.id, max_attempts => 10) as job
    from missing m
  ), logged as (
    insert into app_private.sweeper_repairs (repair, batch_id)
    select 'enqueued_summary', id from enqueued
    returning 1
  )
  select count(*) into v_n from logged;
  if v_n > 0 then
    v_counts := v_counts || jsonb_build_object('enqueued_summaries', v_n);
  end if;

  -- 4. Pending items without a job (a job deleted by hand, or failed for good on a database
  --    error): re-enqueued when their batch has made no progress for p_idle_after and no job of
  --    the batch is left that could still run them. First the records of jobs that are gone.
  delete from app_private.chunk_jobs c where not exists (select 1 from graphile_worker.jobs j where j.id = c.job_id);
  v_n := 0;
  for v_row in
    select b.id from app_public.batches b
    cross join lateral (select * from app_private.batch_counters c where c.batch_id = b.id) c
    where b.finished_at is null and c.sealed and c.pending_items > 0 and c.processing_items = 0
      and c.updated_at < now() - p_idle_after
      and not app_private.batch_has_runnable_job(b.id)
  loop
    perform app_private.enqueue_items(array[row(v_row.id, array_agg(id order by id))::app_private.batch_item_ids],
        greatest(run_after, now()))
      from app_public.batch_items where batch_id = v_row.id and status = 'pending'
      group by greatest(run_after, now());
    insert into app_private.sweeper_repairs (repair, batch_id, details)
    select 'enqueued_orphaned_items', v_row.id, jsonb_build_object('items', count(*))
    from app_public.batch_items where batch_id = v_row.id and status = 'pending';
    update app_private.batch_counter_slots set updated_at = now() where batch_id = v_row.id and slot = 0;
    v_n := v_n + 1;
  end loop;
  if v_n > 0 then
    v_counts := v_counts || jsonb_build_object('orphaned_batches', v_n);
  end if;
  return v_counts;
end
$$;


--
-- Name: FUNCTION sweep_batches(p_stale_after interval, p_idle_after interval); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.sweep_batches(p_stale_after interval, p_idle_after interval) IS 'Repairs what crashes leave, logging each repair in sweeper_repairs: items and jobs of dead workers, counters that drifted from the items (not of batches whose items were pruned: their counters are their record), batches whose status is not what their counters imply, finished batches without a summary, pending items of a batch none of whose jobs is left. Returns the counts of what it repaired.';


--
-- Name: task_queues_seen_by_caller(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.task_queues_seen_by_caller() RETURNS TABLE(task_identifier text, runnable_jobs bigint, oldest_runnable_at timestamp with time zone, oldest_runnable_age_seconds numeric, running_jobs bigint, scheduled_jobs bigint, failed_jobs bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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


--
-- Name: FUNCTION task_queues_seen_by_caller(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.task_queues_seen_by_caller() IS 'Graphile Worker''s jobs counted by task, for the installation''s operator only (no rows for anyone else): the body of the view app_public.task_queues.';


--
-- Name: tenant_queue_name(uuid, integer, bigint); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tenant_queue_name(p_tenant_id uuid, p_max_running_chunks integer, p_position bigint) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select case when p_max_running_chunks is not null
    then 'finishline_tenant:' || p_tenant_id || ':' || (p_position % p_max_running_chunks) end
$$;


--
-- Name: FUNCTION tenant_queue_name(p_tenant_id uuid, p_max_running_chunks integer, p_position bigint); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tenant_queue_name(p_tenant_id uuid, p_max_running_chunks integer, p_position bigint) IS 'The Graphile Worker queue of a tenant''s chunk: one of its max_running_chunks named queues by the chunk''s position, or null (no queue) when the tenant has no limit.';


--
-- Name: tg__fill_tenant_id_from_parent(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg__fill_tenant_id_from_parent() RETURNS trigger
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
begin
  if tg_table_name = 'products' then
    select s.tenant_id into new.tenant_id from app_public.sellers s where s.id = new.seller_id;
  else
    select p.tenant_id into new.tenant_id from app_public.products p where p.id = new.product_id;
  end if;
  return new;
end
$$;


--
-- Name: FUNCTION tg__fill_tenant_id_from_parent(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg__fill_tenant_id_from_parent() IS 'Gives a product its seller''s tenant, a review its product''s, when the INSERT leaves it out.';


--
-- Name: tg__touch_updated_at(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg__touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  new.updated_at := now();
  return new;
end
$$;


--
-- Name: FUNCTION tg__touch_updated_at(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg__touch_updated_at() IS 'Stamps updated_at on rows that really changed.';


--
-- Name: tg_batch_items__count_statuses(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_batch_items__count_statuses() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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


--
-- Name: FUNCTION tg_batch_items__count_statuses(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_batch_items__count_statuses() IS 'Keeps batch counters equal to the items'' statuses, once per statement, and settles the batches concerned. New items must name an existing batch of their own tenant (else 23503) that their transaction created (else FLSLD). Deleting items changes no counter: they go with their batch, or once it has finished (pruning), when its counts are its record; deleting items of an unfinished batch alone raises FLUNF.';


--
-- Name: tg_batch_items__enqueue_jobs(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_batch_items__enqueue_jobs() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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


--
-- Name: FUNCTION tg_batch_items__enqueue_jobs(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_batch_items__enqueue_jobs() IS 'Enqueues a job for every item that becomes pending (inserted, or back from processing or failed), in the same transaction: no pending item is ever without its job.';


--
-- Name: tg_batch_items__fill_tenant_id(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_batch_items__fill_tenant_id() RETURNS trigger
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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


--
-- Name: FUNCTION tg_batch_items__fill_tenant_id(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_batch_items__fill_tenant_id() IS 'Gives an item its batch''s tenant when the INSERT leaves it out and no tenant claim gave one; FLTNI when the batch is not visible to the statement.';


--
-- Name: tg_batch_items__refuse_change(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_batch_items__refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  if old.batch_id <> new.batch_id or old.tenant_id <> new.tenant_id then
    raise exception 'batch item % cannot move to another batch or tenant', old.id using errcode = 'FLTRN';
  end if;
  raise exception 'batch item % cannot go from % to %', old.id, old.status, new.status
    using errcode = 'FLTRN', hint = 'Items go pending → processing → succeeded, failed or cancelled; only failed items go back to pending.';
end
$$;


--
-- Name: FUNCTION tg_batch_items__refuse_change(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_batch_items__refuse_change() IS 'Raises FLTRN for an illegal status transition or an item moved between batches.';


--
-- Name: tg_batches__check_status(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_batches__check_status() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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


--
-- Name: FUNCTION tg_batches__check_status(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_batches__check_status() IS 'Lets a batch''s status change only to what its counters imply.';


--
-- Name: tg_batches__create_counters(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_batches__create_counters() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
begin
  insert into app_private.batch_counter_slots (batch_id, slot) values (new.id, 0);
  return null;
end
$$;


--
-- Name: FUNCTION tg_batches__create_counters(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_batches__create_counters() IS 'Gives every new batch its first counter slot (slot 0, which will carry its seal).';


--
-- Name: tg_batches__delete_items(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_batches__delete_items() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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


--
-- Name: FUNCTION tg_batches__delete_items(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_batches__delete_items() IS 'Deletes the items of deleted batches, in one statement for all of them (all items when batches is truncated).';


--
-- Name: tg_batches__follow_review_scoring(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_batches__follow_review_scoring() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
begin
  perform app_private.start_seller_scoring(new.tenant_id);
  return null;
end
$$;


--
-- Name: FUNCTION tg_batches__follow_review_scoring(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_batches__follow_review_scoring() IS 'When a score_reviews batch finishes, starts the score_sellers run that follows it, in the same transaction.';


--
-- Name: tg_batches__refuse_move(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_batches__refuse_move() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  raise exception 'batch % keeps its id and tenant', old.id
    using errcode = 'FLBMV', hint = 'Submit a new batch for the other tenant.';
end
$$;


--
-- Name: FUNCTION tg_batches__refuse_move(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_batches__refuse_move() IS 'Raises FLBMV for an update that changes a batch''s id or tenant: its items, counters and summary name both.';


--
-- Name: tg_batches__refuse_new_status(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_batches__refuse_new_status() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  raise exception 'a new batch starts pending with no items: its status, counts and times follow its items'
    using errcode = 'FLBST';
end
$$;


--
-- Name: FUNCTION tg_batches__refuse_new_status(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_batches__refuse_new_status() IS 'Raises FLBST for a batch inserted with a status, count or time of its own.';


--
-- Name: tg_batches__refuse_run_only_kinds(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_batches__refuse_run_only_kinds() RETURNS trigger
    LANGUAGE plpgsql STABLE
    AS $$
begin
  if pg_has_role(current_user, 'app_user', 'usage') and not app_public.current_user_is_admin()
     and not (select k.submitted_by_tenants from app_public.batch_kinds k where k.kind = new.kind) then
    raise exception 'batches of kind "%" are started by finishline''s scoring runs, not submitted', new.kind
      using errcode = 'FLRUN', hint = 'An admin starts a run with triggerReviewScoring or triggerSellerScoring.';
  end if;
  return new;
end
$$;


--
-- Name: FUNCTION tg_batches__refuse_run_only_kinds(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_batches__refuse_run_only_kinds() IS 'Refuses a tenant''s batch of a kind that only finishline''s own runs start (batch_kinds.submitted_by_tenants is false).';


--
-- Name: tg_batches__seal(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_batches__seal() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
begin
  update app_private.batch_counter_slots set sealed = true where batch_id = new.id and slot = 0;
  perform app_private.settle_batch(new.id);
  return null;
end
$$;


--
-- Name: FUNCTION tg_batches__seal(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_batches__seal() IS 'At the commit of the transaction that created a batch: closes its item list and settles it, so an empty batch completes right away.';


--
-- Name: tg_products__back_to_pending(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_products__back_to_pending() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  new.status := 'pending';
  new.rejection_reason := null;
  return new;
end
$$;


--
-- Name: FUNCTION tg_products__back_to_pending(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_products__back_to_pending() IS 'Sends an edited product back to review: status `pending`, no rejection reason.';


--
-- Name: tg_products__note_recommender_change(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_products__note_recommender_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
begin
  if tg_op = 'INSERT' then
    insert into app_private.recommender_changes (tenant_id)
      select distinct n.tenant_id from new_rows n where n.status = 'approved'
      on conflict (transaction_id, tenant_id) do nothing;
  elsif tg_op = 'DELETE' then
    -- Products deleted by the cascade of their tenant's deletion: the tenant is already gone.
    insert into app_private.recommender_changes (tenant_id)
      select distinct o.tenant_id from old_rows o
      where o.status = 'approved' and exists (select from app_public.tenants t where t.id = o.tenant_id)
      on conflict (transaction_id, tenant_id) do nothing;
  else
    insert into app_private.recommender_changes (tenant_id)
      select distinct t.tenant_id
      from new_rows n
      join old_rows o on o.id = n.id
      cross join lateral (values (n.tenant_id), (o.tenant_id)) as t(tenant_id)
      where (n.status = 'approved' or o.status = 'approved')
        and (n.status, n.name, n.category, n.description, app_private.price_band(n.price), n.tenant_id)
          is distinct from (o.status, o.name, o.category, o.description, app_private.price_band(o.price), o.tenant_id)
      on conflict (transaction_id, tenant_id) do nothing;
  end if;
  return null;
end
$$;


--
-- Name: FUNCTION tg_products__note_recommender_change(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_products__note_recommender_change() IS 'Notes (once per transaction and tenant) that products changed in a way the recommender sees: an approved product inserted or deleted, or a product approved before or after an update of its status, name, category, description or price band. Writes to pending products don''t count, nor deletions by the cascade of a tenant''s deletion (its recommender state goes with it).';


--
-- Name: tg_recommender_changes__enqueue_retrain(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_recommender_changes__enqueue_retrain() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
declare
  v_settings app_private.recommender_settings;
begin
  select * into v_settings from app_private.recommender_settings;
  perform app_private.schedule_retrain(least(
    clock_timestamp() + v_settings.debounce,
    (select min(changed_at) from app_private.recommender_changes) + v_settings.max_wait));
  return null;
end
$$;


--
-- Name: FUNCTION tg_recommender_changes__enqueue_retrain(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_recommender_changes__enqueue_retrain() IS 'At commit: (re)schedules the one pending retrain_recommender job to debounce after now, or to max_wait after the oldest unseen change if that is sooner.';


--
-- Name: tg_recommender_settings__move_queued_retrain(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_recommender_settings__move_queued_retrain() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
begin
  -- Only changes not yet retrained have a retrain waiting for them.
  if exists (select from app_private.recommender_changes) then
    perform app_private.schedule_retrain(
      (select least(max(changed_at) + new.debounce, min(changed_at) + new.max_wait) from app_private.recommender_changes));
  end if;
  return null;
end
$$;


--
-- Name: FUNCTION tg_recommender_settings__move_queued_retrain(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_recommender_settings__move_queued_retrain() IS 'Moves the waiting retrain to the time the new settings give: `debounce` after the last change not yet retrained, and no later than `max_wait` after the oldest.';


--
-- Name: tg_reviews__count(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.tg_reviews__count() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
declare
  v_columns constant text := 'tenant_id, product_id, author, app_private.review_body_key(body) as body_key, rating';
  v_changes text;
begin
  -- Transition tables exist only for the trigger's own event: the changes as +1/-1 rows.
  v_changes := case tg_op
    when 'INSERT' then format('select %s, 1 as n from new_rows', v_columns)
    when 'DELETE' then format('select %s, -1 as n from old_rows', v_columns)
    else format('select %s, 1 as n from new_rows union all select %s, -1 from old_rows', v_columns, v_columns)
  end;
  execute format($sql$
    with r as (%s), texts as (
      insert into app_private.review_text_counts as c (tenant_id, body_key, copies)
      select tenant_id, body_key, sum(n) from r group by tenant_id, body_key having sum(n) <> 0
      on conflict (tenant_id, body_key) do update set copies = c.copies + excluded.copies
      returning 1
    ), authors as (
      insert into app_private.review_author_counts as c (tenant_id, author, reviews)
      select tenant_id, author, sum(n) from r group by tenant_id, author having sum(n) <> 0
      on conflict (tenant_id, author) do update set reviews = c.reviews + excluded.reviews
      returning 1
    ), products as (
      insert into app_private.product_review_stats as c (product_id, reviews, rating_sum)
      select product_id, sum(n), sum(n * rating) from r group by product_id having sum(n) <> 0 or sum(n * rating) <> 0
      on conflict (product_id) do update set reviews = c.reviews + excluded.reviews, rating_sum = c.rating_sum + excluded.rating_sum
      returning 1
    )
    select (select count(*) from texts) + (select count(*) from authors) + (select count(*) from products)
  $sql$, v_changes);
  return null;
end
$_$;


--
-- Name: FUNCTION tg_reviews__count(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.tg_reviews__count() IS 'Keeps the review counters equal to the reviews, once per statement.';


--
-- Name: worker_holds_lock(text); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.worker_holds_lock(p_worker_id text) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
  -- pg_locks shows a two-key advisory lock with its keys in classid and objid, as unsigned integers.
  select exists (
    select 1 from pg_locks l
    where l.locktype = 'advisory' and l.objsubid = 2 and l.granted
      and l.database = (select d.oid from pg_database d where d.datname = current_database())
      and l.classid = 46150 and l.objid::bigint = app_private.worker_lock_key(p_worker_id)::bigint & 4294967295
  )
$$;


--
-- Name: FUNCTION worker_holds_lock(p_worker_id text); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.worker_holds_lock(p_worker_id text) IS 'Whether a liveness connection holds the worker''s advisory lock now.';


--
-- Name: worker_is_alive(text); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.worker_is_alive(p_worker_id text) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
  -- Seconds without a heartbeat count from the database's own start: after a restart every
  -- worker gets worker_stale_after to reconnect before it counts as dead.
  select exists (
    select 1 from app_private.workers w
    where w.id = p_worker_id
      and (greatest(w.last_seen_at, pg_postmaster_start_time()) >= now() - app_private.worker_stale_after()
           or app_private.worker_holds_lock(w.id))
  )
$$;


--
-- Name: FUNCTION worker_is_alive(p_worker_id text); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.worker_is_alive(p_worker_id text) IS 'Whether the worker runs: its liveness connection holds its lock, or it beat within worker_stale_after (counted from the database''s start, so that a restart kills no one). An id without a heartbeat row is not alive.';


--
-- Name: worker_lock_key(text); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.worker_lock_key(p_worker_id text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select hashtext('finishline worker ' || p_worker_id)
$$;


--
-- Name: FUNCTION worker_lock_key(p_worker_id text); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.worker_lock_key(p_worker_id text) IS 'The second key of a worker''s advisory lock, pg_advisory_lock(46150, worker_lock_key(id)); 46150 is finishline''s class of advisory locks.';


--
-- Name: workers_seen_by_caller(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.workers_seen_by_caller() RETURNS TABLE(id text, hostname text, pid integer, concurrency integer, started_at timestamp with time zone, last_seen_at timestamp with time zone, is_alive boolean, processing_items bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    AS $$
  select w.id, w.hostname, w.pid, w.concurrency, w.started_at, w.last_seen_at,
    app_private.worker_is_alive(w.id),
    -- The items of the chunks it runs, found from its jobs: no index leads to a worker's items.
    (select count(*) from graphile_worker._private_jobs j
     cross join lateral json_array_elements_text(j.payload->'item_ids') as c(item_id)
     join app_public.batch_items i on i.id = c.item_id::bigint
     where j.locked_by = w.id and i.locked_by = w.id)
  from app_private.workers w
  where app_public.current_user_sees_all_tenants()
$$;


--
-- Name: FUNCTION workers_seen_by_caller(); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.workers_seen_by_caller() IS 'The worker heartbeats, for the installation''s operator only (no rows for anyone else): the body of the view app_public.workers.';


--
-- Name: write_run_summary(uuid); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.write_run_summary(p_batch_id uuid) RETURNS boolean
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
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


--
-- Name: FUNCTION write_run_summary(p_batch_id uuid); Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON FUNCTION app_private.write_run_summary(p_batch_id uuid) IS 'Writes (or rewrites) the run summary of a finished batch from its items; returns false, writing nothing, when the batch is not finished or its items were pruned (its summary stays as it was).';


--
-- Name: approve_product(uuid); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.approve_product(id uuid) RETURNS app_public.products
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
declare
  v_product app_public.products;
begin
  perform app_private.require_admin();
  v_product := app_private.find_product(approve_product.id);
  update app_public.products p set status = 'approved', rejection_reason = null
  where p.id = v_product.id
  returning * into v_product;
  return v_product;
end
$$;


--
-- Name: FUNCTION approve_product(id uuid); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.approve_product(id uuid) IS 'Admin only (FLADM): approves a product, so that shoppers see it, and clears any rejection reason. An admin token with a tenant_id approves that tenant''s products only (FLPNF for others).';


--
-- Name: batch_items; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.batch_items (
    id bigint NOT NULL,
    batch_id uuid NOT NULL,
    tenant_id uuid DEFAULT app_public.current_tenant_id() NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    interruptions integer DEFAULT 0 NOT NULL,
    last_error text,
    result jsonb,
    run_after timestamp with time zone,
    locked_by text,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    CONSTRAINT batch_items_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT batch_items_check CHECK (((status = 'processing'::text) = (locked_by IS NOT NULL))),
    CONSTRAINT batch_items_check1 CHECK (((status = ANY (ARRAY['succeeded'::text, 'failed'::text, 'cancelled'::text])) = (finished_at IS NOT NULL))),
    CONSTRAINT batch_items_interruptions_check CHECK ((interruptions >= 0)),
    CONSTRAINT batch_items_payload_check CHECK ((jsonb_typeof(payload) = 'object'::text)),
    CONSTRAINT batch_items_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'processing'::text, 'succeeded'::text, 'failed'::text, 'cancelled'::text])))
)
WITH (vacuum_truncate='false', fillfactor='35');


--
-- Name: TABLE batch_items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.batch_items IS '@behavior -insert -update -delete -query:resource:connection -query:resource:list
@foreignKey (batch_id, tenant_id) references app_public.batches (id, tenant_id)|@fieldName batch|@foreignFieldName items
One unit of work of a batch. Items only move forward: pending → processing → succeeded, failed or cancelled (failed items may be retried).';


--
-- Name: COLUMN batch_items.id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_items.id IS 'The item''s id.';


--
-- Name: COLUMN batch_items.batch_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_items.batch_id IS 'The batch the item belongs to.';


--
-- Name: COLUMN batch_items.tenant_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_items.tenant_id IS 'The tenant that owns the item (always the batch''s): by default the request''s tenant (jwt.claims.tenant_id), else the batch''s.';


--
-- Name: COLUMN batch_items.payload; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_items.payload IS 'What to do, as a JSON object; its shape depends on the batch''s kind.';


--
-- Name: COLUMN batch_items.status; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_items.status IS '@isIndexed
`pending`, `processing`, `succeeded`, `failed` or `cancelled`.';


--
-- Name: COLUMN batch_items.attempts; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_items.attempts IS 'How many times the item has been started, not counting attempts cut short by a database outage, a shutdown or a worker that died: those are given back.';


--
-- Name: COLUMN batch_items.interruptions; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_items.interruptions IS 'How many times the worker running the item died while it ran. An item whose worker dies three times fails: it may be what kills it.';


--
-- Name: COLUMN batch_items.last_error; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_items.last_error IS 'The error message of the last failed attempt.';


--
-- Name: COLUMN batch_items.result; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_items.result IS 'What the item produced (kind-specific JSON); numeric fields are summed into the run summary''s stats.';


--
-- Name: COLUMN batch_items.run_after; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_items.run_after IS 'While `pending` after a failed attempt: when the retry may start (backoff).';


--
-- Name: COLUMN batch_items.locked_by; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_items.locked_by IS 'While `processing`: the worker running the item.';


--
-- Name: COLUMN batch_items.started_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_items.started_at IS 'When the last attempt started.';


--
-- Name: COLUMN batch_items.finished_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_items.finished_at IS 'When the item reached a terminal state.';


--
-- Name: batches_failed_items(app_public.batches, text); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.batches_failed_items(batch app_public.batches, error_contains text DEFAULT NULL::text) RETURNS SETOF app_public.batch_items
    LANGUAGE sql STABLE
    AS $$
  select i.* from app_public.batch_items i
  where i.batch_id = batch.id and i.status = 'failed'
    and (error_contains is null or strpos(lower(i.last_error), lower(error_contains)) > 0)
  order by i.id
$$;


--
-- Name: FUNCTION batches_failed_items(batch app_public.batches, error_contains text); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.batches_failed_items(batch app_public.batches, error_contains text) IS 'The batch''s failed items in id order, with their last error and attempts; with `errorContains`, only those whose last error contains that text (ignoring case).';


--
-- Name: cancel_batch(uuid); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.cancel_batch(batch_id uuid) RETURNS app_public.batches
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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


--
-- Name: FUNCTION cancel_batch(batch_id uuid); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.cancel_batch(batch_id uuid) IS 'Cancels every item of the batch that has not finished: the batch finishes as `cancelled`, and the workers running its items abort them. A finished batch is returned unchanged.';


--
-- Name: create_product(text, text, numeric, text, text, text, integer); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.create_product(sku text, name text, price numeric, description text DEFAULT ''::text, category text DEFAULT ''::text, currency text DEFAULT 'EUR'::text, stock integer DEFAULT 0) RETURNS app_public.products
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
declare
  v_seller_id uuid := app_private.require_seller();
  v_product app_public.products;
begin
  perform app_private.check_product(create_product.sku, create_product.name, coalesce(create_product.description, ''),
    coalesce(create_product.category, ''), create_product.price, coalesce(create_product.currency, 'EUR'),
    coalesce(create_product.stock, 0));
  perform 1 from app_public.products p where p.seller_id = v_seller_id and p.sku = create_product.sku;
  if found then
    raise exception 'you already have a product with sku "%"', create_product.sku using errcode = 'FLSKU';
  end if;
  insert into app_public.products (seller_id, sku, name, description, category, price, currency, stock)
  values (v_seller_id, create_product.sku, create_product.name, coalesce(create_product.description, ''),
          coalesce(create_product.category, ''), create_product.price, coalesce(create_product.currency, 'EUR'),
          coalesce(create_product.stock, 0))
  returning * into v_product;
  return v_product;
end
$$;


--
-- Name: FUNCTION create_product(sku text, name text, price numeric, description text, category text, currency text, stock integer); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.create_product(sku text, name text, price numeric, description text, category text, currency text, stock integer) IS 'Creates a product of the calling seller (an `app_seller` token), `pending` until an admin approves it. The price has at most two decimals; price and stock are zero or more (FLINV otherwise); the SKU is unique per seller (FLSKU).';


--
-- Name: current_seller_id(); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.current_seller_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  -- A pooled connection that once carried the claim reads '' afterwards, not null.
  select nullif(current_setting('jwt.claims.seller_id', true), '')::uuid
$$;


--
-- Name: FUNCTION current_seller_id(); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.current_seller_id() IS 'The seller the current request acts for, from the JWT claim `seller_id` (tokens of the `app_seller` role); null otherwise.';


--
-- Name: current_user_is_admin(); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.current_user_is_admin() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  select pg_has_role(coalesce(nullif(current_setting('role'), 'none'), session_user), 'app_admin', 'usage')
$$;


--
-- Name: FUNCTION current_user_is_admin(); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.current_user_is_admin() IS 'True when the request runs as `app_admin` (or as the database owner). An admin whose token carries a `tenant_id` is that tenant''s admin only; see current_user_sees_all_tenants.';


--
-- Name: current_user_sees_all_tenants(); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.current_user_sees_all_tenants() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  select app_public.current_user_is_admin() and app_public.current_tenant_id() is null
$$;


--
-- Name: FUNCTION current_user_sees_all_tenants(); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.current_user_sees_all_tenants() IS 'True for the installation''s operator: an `app_admin` whose token names no tenant (or the database owner). Every other request sees its own tenant only.';


--
-- Name: current_user_sub(); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.current_user_sub() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  select nullif(current_setting('jwt.claims.sub', true), '')
$$;


--
-- Name: FUNCTION current_user_sub(); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.current_user_sub() IS 'Who is asking, from the JWT claim `sub` (a shopper''s reviews carry it as their author); null when the token has none.';


--
-- Name: delete_product(uuid); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.delete_product(id uuid) RETURNS app_public.products
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
declare
  v_product app_public.products := app_private.find_own_product(delete_product.id);
begin
  delete from app_public.products p where p.id = v_product.id returning * into v_product;
  return v_product;
end
$$;


--
-- Name: FUNCTION delete_product(id uuid); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.delete_product(id uuid) IS 'Deletes one of the calling seller''s products (and its reviews) and returns it as it was. FLPNF when the product is not visible, FLOWN when it is another seller''s.';


--
-- Name: prune_finished_batches(interval, interval, integer); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.prune_finished_batches(older_than interval, batches_older_than interval DEFAULT NULL::interval, max_rows integer DEFAULT 5000) RETURNS app_public.pruned_rows
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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


--
-- Name: FUNCTION prune_finished_batches(older_than interval, batches_older_than interval, max_rows integer); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.prune_finished_batches(older_than interval, batches_older_than interval, max_rows integer) IS 'Removes finished work past its retention, at most `maxRows` rows per call (one transaction): the items of batches finished more than `olderThan` ago (once their run summary is written; the batches keep their counts, status, times and summary, and `itemsPrunedAt`), the content of catalog files uploaded before then that no unfinished or recent import names, and, with `batchesOlderThan`, batches finished more than that ago with their summaries, and the sweeper''s log. Returns what it removed; call it again while `more` is true. The installation''s operator only (FLADM). The `prune_finished_batches` task runs it daily with ITEM_RETENTION_DAYS and BATCH_RETENTION_DAYS.';


--
-- Name: recommendations_for(uuid, integer); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.recommendations_for(product_id uuid, first integer DEFAULT 10) RETURNS SETOF app_public.products
    LANGUAGE sql STABLE
    AS $$
  -- recommended_products returns its rows in rank order (a function's rows keep their order).
  select * from app_public.recommended_products(recommendations_for.product_id)
  limit least(greatest(coalesce(recommendations_for.first, 10), 0), 50)
$$;


--
-- Name: FUNCTION recommendations_for(product_id uuid, first integer); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.recommendations_for(product_id uuid, first integer) IS '@name recommendations_for_sql_callers
@behavior -queryField
The first `first` (10 unless told) of recommended_products, for SQL callers; GraphQL has the same as `recommendationsFor(productId:, first:)`.';


--
-- Name: recommended_products(uuid); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.recommended_products(product_id uuid) RETURNS SETOF app_public.products
    LANGUAGE sql STABLE STRICT
    AS $$
  select p.*
  from app_public.product_recommendations r
  join app_public.products p on p.id = r.recommended_product_id
  where r.product_id = recommended_products.product_id and p.status = 'approved'
  order by r.rank
$$;


--
-- Name: FUNCTION recommended_products(product_id uuid); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.recommended_products(product_id uuid) IS '@name recommendations_for
@behavior -connection +list
@listSuffix omit
The active recommender''s products for this one, most similar first (up to 10): approved products that exist now only, even between a change and the retrain it causes.';


--
-- Name: reject_product(uuid, text); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.reject_product(id uuid, reason text DEFAULT NULL::text) RETURNS app_public.products
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
declare
  v_product app_public.products;
begin
  perform app_private.require_admin();
  v_product := app_private.find_product(reject_product.id);
  if length(reject_product.reason) > 1000 then
    raise exception 'reason must be at most 1000 characters' using errcode = 'FLINV';
  end if;
  update app_public.products p set status = 'rejected', rejection_reason = nullif(reject_product.reason, '')
  where p.id = v_product.id
  returning * into v_product;
  return v_product;
end
$$;


--
-- Name: FUNCTION reject_product(id uuid, reason text); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.reject_product(id uuid, reason text) IS 'Admin only (FLADM): rejects a product, keeping the optional `reason` on it (`rejectionReason`) for its seller to read. Shoppers no longer see it. An admin token with a tenant_id rejects that tenant''s products only (FLPNF for others).';


--
-- Name: request_batch_summary(uuid); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.request_batch_summary(batch_id uuid) RETURNS app_public.batch_summary_request
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION request_batch_summary(batch_id uuid); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.request_batch_summary(batch_id uuid) IS 'The run summary of a batch: `ready` with the summary; `pending` with `retryAfterSeconds` when the batch finished but its summary is still being written (asking enqueues the work if it was lost); `not_finished` while items are still running.';


--
-- Name: retry_failed_items(uuid); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.retry_failed_items(batch_id uuid) RETURNS app_public.batches
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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


--
-- Name: FUNCTION retry_failed_items(batch_id uuid); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.retry_failed_items(batch_id uuid) IS 'Puts the batch''s failed items back to `pending` with a fresh set of attempts and re-opens the batch; their last error stays visible until they run again. A batch whose items were pruned (itemsPrunedAt) has none left: FLPRN.';


--
-- Name: search_batches(text, text, uuid, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.search_batches(kind text DEFAULT NULL::text, status text DEFAULT NULL::text, tenant_id uuid DEFAULT NULL::uuid, created_after timestamp with time zone DEFAULT NULL::timestamp with time zone, created_before timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS SETOF app_public.batches
    LANGUAGE sql STABLE
    AS $$
  select b.* from app_public.batches b
  where (search_batches.kind is null or b.kind = search_batches.kind)
    and (search_batches.status is null or b.status = search_batches.status)
    and (search_batches.tenant_id is null or b.tenant_id = search_batches.tenant_id)
    and (search_batches.created_after is null or b.created_at >= search_batches.created_after)
    and (search_batches.created_before is null or b.created_at < search_batches.created_before)
  order by b.created_at desc, b.id desc
$$;


--
-- Name: FUNCTION search_batches(kind text, status text, tenant_id uuid, created_after timestamp with time zone, created_before timestamp with time zone); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.search_batches(kind text, status text, tenant_id uuid, created_after timestamp with time zone, created_before timestamp with time zone) IS 'The batches the caller may see, newest first, each filter applied when given: `kind`, `status` (one of batches.status), `tenantId` (for admins who see several tenants), created at or after `createdAfter` and before `createdBefore`. Each batch''s statusSummary says where it stands.';


--
-- Name: tenants; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.tenants (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    max_running_chunks integer,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT tenants_max_running_chunks_check CHECK ((max_running_chunks >= 1)),
    CONSTRAINT tenants_name_check CHECK (((btrim(name) <> ''::text) AND (length(name) <= 200)))
);


--
-- Name: TABLE tenants; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.tenants IS '@behavior -insert -update -delete
An organisation whose batches, sellers, products and reviews are kept apart from every other.';


--
-- Name: COLUMN tenants.id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.tenants.id IS 'The tenant''s id; JWTs carry it as the claim `tenant_id`.';


--
-- Name: COLUMN tenants.name; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.tenants.name IS 'A unique, human-readable name: 1 to 200 characters, not only spaces.';


--
-- Name: COLUMN tenants.max_running_chunks; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.tenants.max_running_chunks IS 'The most chunk jobs of this tenant that run at once, across all workers; null for no limit. It applies to chunks enqueued after it is set.';


--
-- Name: COLUMN tenants.created_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.tenants.created_at IS 'When the tenant was created.';


--
-- Name: set_tenant_limit(uuid, integer); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.set_tenant_limit(tenant_id uuid, max_running_chunks integer) RETURNS app_public.tenants
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
declare
  v_tenant app_public.tenants;
begin
  if set_tenant_limit.max_running_chunks < 1 then
    raise exception 'maxRunningChunks must be 1 or more, or null for no limit' using errcode = 'FLLIM';
  end if;
  -- Row level security lets only the installation's operator update tenants.
  update app_public.tenants t set max_running_chunks = set_tenant_limit.max_running_chunks
    where t.id = set_tenant_limit.tenant_id
    returning * into v_tenant;
  if v_tenant.id is null then
    raise exception 'only the installation''s operator sets a tenant''s limit' using errcode = 'FLADM';
  end if;
  return v_tenant;
end
$$;


--
-- Name: FUNCTION set_tenant_limit(tenant_id uuid, max_running_chunks integer); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.set_tenant_limit(tenant_id uuid, max_running_chunks integer) IS 'Sets the most chunk jobs of a tenant that run at once, across all workers (null: no limit), for the chunks enqueued from now on. The installation''s operator only.';


--
-- Name: submit_batch(text, jsonb, jsonb, text, smallint); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.submit_batch(kind text, items jsonb, metadata jsonb DEFAULT '{}'::jsonb, idempotency_key text DEFAULT NULL::text, priority smallint DEFAULT NULL::smallint) RETURNS app_public.batches
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION submit_batch(kind text, items jsonb, metadata jsonb, idempotency_key text, priority smallint); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.submit_batch(kind text, items jsonb, metadata jsonb, idempotency_key text, priority smallint) IS 'Submits a batch of the given kind for the current tenant, one item per element of `items` (a JSON array of payload objects). With an `idempotencyKey` already used by this tenant for the same request (kind, items, metadata, priority), returns that batch and creates nothing; for another request, error FLIDM. `priority` (-2 runs first, 2 yields; null for the kind''s) orders its chunks among other batches''. Its items start when the transaction commits.';


--
-- Name: trigger_all_scoring(); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.trigger_all_scoring() RETURNS SETOF app_public.batches
    LANGUAGE sql
    AS $$
  -- Reviews first; each finished review run starts its seller run by itself.
  select * from app_public.trigger_review_scoring()
$$;


--
-- Name: FUNCTION trigger_all_scoring(); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.trigger_all_scoring() IS 'Admins: starts review scoring now; the seller scoring of each run follows when it finishes.';


--
-- Name: trigger_review_scorer_training(); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.trigger_review_scorer_training() RETURNS boolean
    LANGUAGE plpgsql
    AS $$
begin
  perform app_private.require_admin();
  return app_private.enqueue_review_scorer_training();
end
$$;


--
-- Name: FUNCTION trigger_review_scorer_training(); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.trigger_review_scorer_training() IS 'Admins: trains a new review scorer now (in the background). It becomes active only if its held-out metrics are not worse than the active version''s; model_versions shows the outcome.';


--
-- Name: trigger_review_scoring(); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.trigger_review_scoring() RETURNS SETOF app_public.batches
    LANGUAGE plpgsql
    AS $$
begin
  perform app_private.require_admin();
  return query select b.* from app_public.tenants t
    cross join lateral app_private.start_review_scoring(t.id) b
    where app_private.caller_may_see(t.id);
end
$$;


--
-- Name: FUNCTION trigger_review_scoring(); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.trigger_review_scoring() IS 'Admins: starts a review scoring run now (for the token''s tenant, or every tenant) and returns its batches; a tenant''s run already under way is returned instead of a second one.';


--
-- Name: trigger_seller_scoring(); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.trigger_seller_scoring() RETURNS SETOF app_public.batches
    LANGUAGE plpgsql
    AS $$
begin
  perform app_private.require_admin();
  return query select b.* from app_public.tenants t
    cross join lateral app_private.start_seller_scoring(t.id) b
    where app_private.caller_may_see(t.id);
end
$$;


--
-- Name: FUNCTION trigger_seller_scoring(); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.trigger_seller_scoring() IS 'Admins: starts a seller scoring run now and returns its batches.';


--
-- Name: update_product(uuid, text, text, text, text, numeric, text, integer); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.update_product(id uuid, sku text DEFAULT NULL::text, name text DEFAULT NULL::text, description text DEFAULT NULL::text, category text DEFAULT NULL::text, price numeric DEFAULT NULL::numeric, currency text DEFAULT NULL::text, stock integer DEFAULT NULL::integer) RETURNS app_public.products
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
declare
  v_old app_public.products := app_private.find_own_product(update_product.id);
  v_new app_public.products;
begin
  perform app_private.check_product(
    coalesce(update_product.sku, v_old.sku), coalesce(update_product.name, v_old.name),
    coalesce(update_product.description, v_old.description), coalesce(update_product.category, v_old.category),
    coalesce(update_product.price, v_old.price), coalesce(update_product.currency, v_old.currency),
    coalesce(update_product.stock, v_old.stock));
  v_new.sku := coalesce(update_product.sku, v_old.sku);
  if v_new.sku <> v_old.sku then
    perform 1 from app_public.products p where p.seller_id = v_old.seller_id and p.sku = v_new.sku;
    if found then
      raise exception 'you already have a product with sku "%"', v_new.sku using errcode = 'FLSKU';
    end if;
  end if;
  -- The _200_back_to_pending trigger sends a changed product back to review.
  update app_public.products p set
    sku = coalesce(update_product.sku, p.sku), name = coalesce(update_product.name, p.name),
    description = coalesce(update_product.description, p.description), category = coalesce(update_product.category, p.category),
    price = coalesce(update_product.price, p.price), currency = coalesce(update_product.currency, p.currency),
    stock = coalesce(update_product.stock, p.stock)
  where p.id = v_old.id
  returning * into v_new;
  return v_new;
end
$$;


--
-- Name: FUNCTION update_product(id uuid, sku text, name text, description text, category text, price numeric, currency text, stock integer); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.update_product(id uuid, sku text, name text, description text, category text, price numeric, currency text, stock integer) IS 'Changes fields of one of the calling seller''s products; the fields left out (null) stay as they are. Any change sends the product back to `pending` for an admin to approve again. FLPNF when the product is not visible, FLOWN when it is another seller''s, FLINV for a value out of range.';


--
-- Name: catalog_files; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.catalog_files (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    tenant_id uuid DEFAULT app_public.current_tenant_id() NOT NULL,
    filename text NOT NULL,
    size_bytes bigint,
    sha256 text,
    uploaded_at timestamp with time zone DEFAULT now() NOT NULL,
    content_removed_at timestamp with time zone,
    CONSTRAINT catalog_files_check CHECK (((size_bytes IS NULL) = (sha256 IS NULL))),
    CONSTRAINT catalog_files_filename_check CHECK (((length(filename) >= 1) AND (length(filename) <= 500))),
    CONSTRAINT catalog_files_sha256_check CHECK ((sha256 ~ '^[0-9a-f]{64}$'::text)),
    CONSTRAINT catalog_files_size_bytes_check CHECK ((size_bytes >= 0))
);


--
-- Name: TABLE catalog_files; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.catalog_files IS '@behavior -insert -update -delete
A catalog file a seller uploaded: products and/or reviews as CSV or JSON Lines. The same content uploaded twice is stored once.';


--
-- Name: COLUMN catalog_files.id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.catalog_files.id IS 'The file''s id; an `import_catalog` item names it as `{"file_id": ...}`.';


--
-- Name: COLUMN catalog_files.tenant_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.catalog_files.tenant_id IS 'The tenant that uploaded it.';


--
-- Name: COLUMN catalog_files.filename; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.catalog_files.filename IS 'The name it was uploaded with (rejected rows are reported with it).';


--
-- Name: COLUMN catalog_files.size_bytes; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.catalog_files.size_bytes IS 'Its size in bytes (null while the upload is under way).';


--
-- Name: COLUMN catalog_files.sha256; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.catalog_files.sha256 IS 'The SHA-256 of its content, hex (null while the upload is under way).';


--
-- Name: COLUMN catalog_files.uploaded_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.catalog_files.uploaded_at IS 'When it was uploaded.';


--
-- Name: COLUMN catalog_files.content_removed_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.catalog_files.content_removed_at IS 'When its content was removed, past the items'' retention with no unfinished or recent import naming it (prune_finished_batches); null while it is kept. Uploading the same content again stores it under this file once more.';


--
-- Name: upload_catalog_file(text, text); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.upload_catalog_file(filename text, content_base64 text) RETURNS app_public.catalog_files
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
#variable_conflict use_column
declare
  v_tenant_id uuid := app_private.require_tenant_id();
  v_bytes bytea;
  v_file_id uuid;
  v_result app_public.catalog_files;
begin
  begin
    v_bytes := decode(upload_catalog_file.content_base64, 'base64');
  exception when others then
    raise exception 'contentBase64 is not valid base64' using errcode = 'FLB64';
  end;
  if length(v_bytes) > app_private.max_catalog_file_bytes() then
    raise exception 'catalog file "%" is % bytes; the limit is % bytes', upload_catalog_file.filename, length(v_bytes), app_private.max_catalog_file_bytes()
      using errcode = 'FLBIG';
  end if;
  insert into app_public.catalog_files (tenant_id, filename) values (v_tenant_id, upload_catalog_file.filename)
    returning id into v_file_id;
  insert into app_private.catalog_file_chunks (file_id, seq, bytes)
  select v_file_id, n, substring(v_bytes from n * 1048576 + 1 for 1048576)
  from generate_series(0, greatest((length(v_bytes) - 1) / 1048576, 0)) as n;
  v_file_id := app_private.finish_catalog_upload(v_file_id, length(v_bytes), encode(sha256(v_bytes), 'hex'));
  select * into v_result from app_public.catalog_files where id = v_file_id;
  return v_result;
end
$$;


--
-- Name: FUNCTION upload_catalog_file(filename text, content_base64 text); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.upload_catalog_file(filename text, content_base64 text) IS 'Uploads a catalog file (CSV or JSON Lines, base64-encoded) for the current tenant and returns it; the same content uploaded before returns the earlier file. For large files use the CLI (`finishline import`), which streams. Import it with submitBatch(kind: "import_catalog", items: [{file_id: ...}]).';


--
-- Name: reviews; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.reviews (
    id uuid DEFAULT app_private.uuid_v7() NOT NULL,
    tenant_id uuid NOT NULL,
    product_id uuid NOT NULL,
    author text NOT NULL,
    rating smallint NOT NULL,
    title text DEFAULT ''::text NOT NULL,
    body text DEFAULT ''::text NOT NULL,
    verified_purchase boolean DEFAULT false NOT NULL,
    helpful_votes integer DEFAULT 0 NOT NULL,
    unhelpful_votes integer DEFAULT 0 NOT NULL,
    moderation_verdict text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT reviews_author_check CHECK (((length(author) >= 1) AND (length(author) <= 200))),
    CONSTRAINT reviews_body_check CHECK ((length(body) <= 20000)),
    CONSTRAINT reviews_helpful_votes_check CHECK ((helpful_votes >= 0)),
    CONSTRAINT reviews_moderation_verdict_check CHECK ((moderation_verdict = ANY (ARRAY['genuine'::text, 'fake'::text]))),
    CONSTRAINT reviews_rating_check CHECK (((rating >= 1) AND (rating <= 5))),
    CONSTRAINT reviews_title_check CHECK ((length(title) <= 300)),
    CONSTRAINT reviews_unhelpful_votes_check CHECK ((unhelpful_votes >= 0))
);


--
-- Name: TABLE reviews; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.reviews IS '@behavior -insert -update -delete
A shopper''s review of a product: one per author and product.';


--
-- Name: COLUMN reviews.id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.reviews.id IS 'The review''s id.';


--
-- Name: COLUMN reviews.tenant_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.reviews.tenant_id IS 'The tenant it belongs to.';


--
-- Name: COLUMN reviews.product_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.reviews.product_id IS 'The product reviewed.';


--
-- Name: COLUMN reviews.author; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.reviews.author IS 'Who wrote it (the shopper''s subject, or the name a catalog file gives).';


--
-- Name: COLUMN reviews.rating; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.reviews.rating IS 'Stars, from 1 to 5.';


--
-- Name: COLUMN reviews.title; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.reviews.title IS 'Its title.';


--
-- Name: COLUMN reviews.body; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.reviews.body IS 'Its text.';


--
-- Name: COLUMN reviews.verified_purchase; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.reviews.verified_purchase IS 'Whether the author bought the product.';


--
-- Name: COLUMN reviews.helpful_votes; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.reviews.helpful_votes IS 'Shoppers who found it helpful.';


--
-- Name: COLUMN reviews.unhelpful_votes; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.reviews.unhelpful_votes IS 'Shoppers who did not.';


--
-- Name: COLUMN reviews.moderation_verdict; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.reviews.moderation_verdict IS 'A moderator''s verdict, `genuine` or `fake`: the label review scoring learns from.';


--
-- Name: COLUMN reviews.created_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.reviews.created_at IS 'When it was written.';


--
-- Name: COLUMN reviews.updated_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.reviews.updated_at IS 'When it last changed.';


--
-- Name: write_review(uuid, integer, text, text); Type: FUNCTION; Schema: app_public; Owner: -
--

CREATE FUNCTION app_public.write_review(product_id uuid, rating integer, title text DEFAULT ''::text, body text DEFAULT ''::text) RETURNS app_public.reviews
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
declare
  v_author text := app_public.current_user_sub();
  v_product app_public.products;
  v_review app_public.reviews;
begin
  if current_user not in ('app_shopper', 'app_seller') then
    raise exception 'only a shopper (or a seller, for another shop''s product) may write a review' using errcode = 'FLROL';
  end if;
  if v_author is null then
    raise exception 'a review needs an author: the token has no sub' using errcode = 'FLSUB';
  end if;
  -- Runs as the caller: shoppers see approved products only, so a pending, rejected or unknown
  -- product is one answer (FLNAP); a seller also sees its own, which it may not review.
  select * into v_product from app_public.products p where p.id = write_review.product_id;
  if v_product.seller_id = app_public.current_seller_id() then
    raise exception 'a seller can''t review its own product' using errcode = 'FLSLF';
  end if;
  if v_product.id is null or v_product.status <> 'approved' then
    raise exception 'product % is not approved (or does not exist): only approved products can be reviewed', write_review.product_id
      using errcode = 'FLNAP';
  end if;
  if write_review.rating is null or write_review.rating not between 1 and 5 then
    raise exception 'rating must be 1 to 5 stars, not %', coalesce(write_review.rating::text, 'null') using errcode = 'FLINV';
  end if;
  if length(coalesce(write_review.title, '')) > 300 then
    raise exception 'title must be at most 300 characters' using errcode = 'FLINV';
  end if;
  if length(coalesce(write_review.body, '')) > 20000 then
    raise exception 'body must be at most 20000 characters' using errcode = 'FLINV';
  end if;
  perform 1 from app_public.reviews r where r.product_id = v_product.id and r.author = v_author;
  if found then
    raise exception '% already reviewed product %', v_author, v_product.id using errcode = 'FLREV';
  end if;
  begin
    insert into app_public.reviews (product_id, author, rating, title, body)
    values (v_product.id, v_author, write_review.rating, coalesce(write_review.title, ''), coalesce(write_review.body, ''))
    returning * into v_review;
  exception when unique_violation then
    -- The same author's review committed by a concurrent request.
    raise exception '% already reviewed product %', v_author, v_product.id using errcode = 'FLREV';
  end;
  return v_review;
end
$$;


--
-- Name: FUNCTION write_review(product_id uuid, rating integer, title text, body text); Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON FUNCTION app_public.write_review(product_id uuid, rating integer, title text, body text) IS 'Writes the caller''s review (author: the token''s `sub`) of an approved product: 1 to 5 stars, a title and a text. Shoppers may review any approved product, sellers other shops'' ones; once per author and product (FLREV). FLNAP for a product that is not approved (or not there), FLSLF for a seller''s own product, FLSUB without a `sub`.';


--
-- Name: batches_being_pruned; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.batches_being_pruned (
    batch_id uuid NOT NULL
);


--
-- Name: TABLE batches_being_pruned; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.batches_being_pruned IS 'Batches whose items prune_finished_batches has begun to remove and not finished (a batch''s items go over several transactions): the next call resumes them first.';


--
-- Name: COLUMN batches_being_pruned.batch_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.batches_being_pruned.batch_id IS 'The batch (its items_pruned_at says since when).';


--
-- Name: catalog_file_chunks; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.catalog_file_chunks (
    file_id uuid NOT NULL,
    seq integer NOT NULL,
    bytes bytea NOT NULL,
    CONSTRAINT catalog_file_chunks_seq_check CHECK ((seq >= 0))
)
WITH (vacuum_truncate='false');


--
-- Name: TABLE catalog_file_chunks; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.catalog_file_chunks IS 'The content of catalog files, in pieces of about 1 MB, so that uploads and imports stream instead of holding a whole file in memory.';


--
-- Name: COLUMN catalog_file_chunks.file_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.catalog_file_chunks.file_id IS 'The catalog file the piece belongs to.';


--
-- Name: COLUMN catalog_file_chunks.seq; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.catalog_file_chunks.seq IS 'The piece''s place in the file, from 0; the importer reads them in this order.';


--
-- Name: COLUMN catalog_file_chunks.bytes; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.catalog_file_chunks.bytes IS 'The piece''s bytes, 1 MB (1,048,576 bytes) except the last.';


--
-- Name: chunk_jobs; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.chunk_jobs (
    batch_id uuid NOT NULL,
    job_id bigint NOT NULL
);


--
-- Name: TABLE chunk_jobs; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.chunk_jobs IS 'Which batch each chunk job was enqueued for (graphile_worker.jobs does not show payloads): the sweeper and stuck_reason look here for a job that can still run a batch''s pending items. Rows whose job is gone are deleted by the sweeper.';


--
-- Name: COLUMN chunk_jobs.batch_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.chunk_jobs.batch_id IS 'The batch whose items the job runs (no foreign key: the row goes with its job, not its batch).';


--
-- Name: COLUMN chunk_jobs.job_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.chunk_jobs.job_id IS 'The job''s id in graphile_worker.jobs.';


--
-- Name: host_cooldowns; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.host_cooldowns (
    host text NOT NULL,
    until timestamp with time zone NOT NULL,
    reason text NOT NULL
);


--
-- Name: TABLE host_cooldowns; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.host_cooldowns IS 'Hosts that asked to be left alone (HTTP 429 or 503 with Retry-After): no slot of the host is handed out before `until`, to any worker.';


--
-- Name: COLUMN host_cooldowns.host; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.host_cooldowns.host IS 'The host, as in host_leases.';


--
-- Name: COLUMN host_cooldowns.until; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.host_cooldowns.until IS 'No request to the host before this time.';


--
-- Name: COLUMN host_cooldowns.reason; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.host_cooldowns.reason IS 'What the host answered, e.g. `HTTP 429`.';


--
-- Name: host_leases; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.host_leases (
    host text NOT NULL,
    slot integer NOT NULL,
    holder text NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    CONSTRAINT host_leases_slot_check CHECK ((slot >= 1))
);


--
-- Name: TABLE host_leases; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.host_leases IS 'Slots of the per-host request limiter: a row whose expires_at is in the future is a request in flight to that host. Scrapers take one of slots 1..N (N = the worker''s SCRAPE_MAX_PER_HOST, 2 by default; every worker process should use the same N) before each request and delete it after; an expired row is a free slot (its holder died).';


--
-- Name: COLUMN host_leases.host; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.host_leases.host IS 'The host, with its port when not the default, as in a URL (`shop.example.com`, `127.0.0.1:8080`).';


--
-- Name: COLUMN host_leases.slot; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.host_leases.slot IS 'Which of the host''s N slots, from 1.';


--
-- Name: COLUMN host_leases.holder; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.host_leases.holder IS 'Who holds it: the worker, item and request, so that only the holder releases it.';


--
-- Name: COLUMN host_leases.expires_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.host_leases.expires_at IS 'When the lease lapses if not released: the request''s total timeout plus a margin.';


--
-- Name: migrations; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.migrations (
    id integer NOT NULL,
    name character varying(255) NOT NULL,
    run_on timestamp without time zone NOT NULL
);


--
-- Name: TABLE migrations; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.migrations IS 'The migrations applied from migrations/, one row each: written by node-pg-migrate, which applies only those it finds no row for.';


--
-- Name: COLUMN migrations.id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.migrations.id IS 'Its row id, in the order they were applied.';


--
-- Name: COLUMN migrations.name; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.migrations.name IS 'The migration''s file name without `.sql`.';


--
-- Name: COLUMN migrations.run_on; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.migrations.run_on IS 'When it was applied.';


--
-- Name: migrations_id_seq; Type: SEQUENCE; Schema: app_private; Owner: -
--

CREATE SEQUENCE app_private.migrations_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: migrations_id_seq; Type: SEQUENCE OWNED BY; Schema: app_private; Owner: -
--

ALTER SEQUENCE app_private.migrations_id_seq OWNED BY app_private.migrations.id;


--
-- Name: model_files; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.model_files (
    model_version_id uuid NOT NULL,
    onnx bytea NOT NULL
);


--
-- Name: TABLE model_files; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.model_files IS 'The ONNX bytes of each model version, loaded by workers into onnxruntime-node.';


--
-- Name: COLUMN model_files.model_version_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.model_files.model_version_id IS 'The model version these bytes are.';


--
-- Name: COLUMN model_files.onnx; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.model_files.onnx IS 'The model as an ONNX file.';


--
-- Name: product_review_stats; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.product_review_stats (
    product_id uuid NOT NULL,
    reviews integer NOT NULL,
    rating_sum bigint NOT NULL
);


--
-- Name: TABLE product_review_stats; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.product_review_stats IS 'Each product''s review count and rating sum (its mean rating is their ratio).';


--
-- Name: COLUMN product_review_stats.product_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.product_review_stats.product_id IS 'The product reviewed (no foreign key: kept by the reviews'' triggers).';


--
-- Name: COLUMN product_review_stats.reviews; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.product_review_stats.reviews IS 'How many reviews it has.';


--
-- Name: COLUMN product_review_stats.rating_sum; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.product_review_stats.rating_sum IS 'The sum of their ratings.';


--
-- Name: recommender_changes; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.recommender_changes (
    id bigint NOT NULL,
    tenant_id uuid NOT NULL,
    transaction_id xid8 DEFAULT pg_current_xact_id() NOT NULL,
    changed_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);


--
-- Name: TABLE recommender_changes; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.recommender_changes IS 'One row per transaction and tenant that changed products the recommender reads; a retrain recomputes those tenants and deletes the rows it has seen. The oldest row sets the retrain''s ceiling.';


--
-- Name: COLUMN recommender_changes.id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.recommender_changes.id IS 'Identifies the change: a retrain consumes exactly the ids it read (not every id below the highest, since a lower id can commit later).';


--
-- Name: COLUMN recommender_changes.tenant_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.recommender_changes.tenant_id IS 'The tenant whose products changed.';


--
-- Name: COLUMN recommender_changes.transaction_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.recommender_changes.transaction_id IS 'The transaction that changed them: one row (and one enqueue at its commit) however many statements it ran.';


--
-- Name: COLUMN recommender_changes.changed_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.recommender_changes.changed_at IS 'When the transaction first changed a product of the tenant.';


--
-- Name: recommender_changes_id_seq; Type: SEQUENCE; Schema: app_private; Owner: -
--

ALTER TABLE app_private.recommender_changes ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME app_private.recommender_changes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: recommender_inputs; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.recommender_inputs (
    product_id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    content_key text NOT NULL,
    kth_score real,
    model_version_id uuid NOT NULL
);


--
-- Name: TABLE recommender_inputs; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.recommender_inputs IS 'Each product the active recommendations were computed from. No foreign key to products: a row whose product is gone or no longer approved is how a retrain finds what was removed.';


--
-- Name: COLUMN recommender_inputs.product_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.recommender_inputs.product_id IS 'The product.';


--
-- Name: COLUMN recommender_inputs.tenant_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.recommender_inputs.tenant_id IS 'Its tenant: products are only compared within one.';


--
-- Name: COLUMN recommender_inputs.content_key; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.recommender_inputs.content_key IS 'Its recommender_content_key when last embedded.';


--
-- Name: COLUMN recommender_inputs.kth_score; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.recommender_inputs.kth_score IS 'The score of its last (k-th) recommendation, null when it has fewer than k: a changed product that scores below this can''t enter its list, so the list need not be recomputed.';


--
-- Name: COLUMN recommender_inputs.model_version_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.recommender_inputs.model_version_id IS 'The recommender version that last computed its list.';


--
-- Name: recommender_settings; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.recommender_settings (
    singleton boolean DEFAULT true NOT NULL,
    debounce interval DEFAULT '00:00:30'::interval NOT NULL,
    max_wait interval DEFAULT '00:05:00'::interval NOT NULL,
    CONSTRAINT recommender_settings_debounce_check CHECK ((debounce >= '00:00:00'::interval)),
    CONSTRAINT recommender_settings_max_wait_check CHECK ((max_wait >= '00:00:00'::interval)),
    CONSTRAINT recommender_settings_singleton_check CHECK (singleton)
);


--
-- Name: TABLE recommender_settings; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.recommender_settings IS 'The retrain debounce and ceiling (one row), written by workers at start from RETRAIN_DEBOUNCE_SECONDS and RETRAIN_MAX_WAIT_SECONDS.';


--
-- Name: COLUMN recommender_settings.singleton; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.recommender_settings.singleton IS 'Always true: there is one row.';


--
-- Name: COLUMN recommender_settings.debounce; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.recommender_settings.debounce IS 'A retrain runs this long after the last change of a burst.';


--
-- Name: COLUMN recommender_settings.max_wait; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.recommender_settings.max_wait IS 'A retrain runs at the latest this long after the oldest change it has not yet seen.';


--
-- Name: retention_settings; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.retention_settings (
    singleton boolean DEFAULT true NOT NULL,
    item_retention interval DEFAULT '30 days'::interval NOT NULL,
    batch_retention interval DEFAULT '365 days'::interval NOT NULL,
    CONSTRAINT retention_settings_batch_retention_check CHECK ((batch_retention >= '00:00:00'::interval)),
    CONSTRAINT retention_settings_item_retention_check CHECK ((item_retention >= '00:00:00'::interval)),
    CONSTRAINT retention_settings_singleton_check CHECK (singleton)
);


--
-- Name: TABLE retention_settings; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.retention_settings IS 'How long finished work is kept (one row), written by workers at start from ITEM_RETENTION_DAYS and BATCH_RETENTION_DAYS; the prune_finished_batches task reads it.';


--
-- Name: COLUMN retention_settings.singleton; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.retention_settings.singleton IS 'Always true: there is one row.';


--
-- Name: COLUMN retention_settings.item_retention; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.retention_settings.item_retention IS 'How long after a batch finished its items are kept (with their payloads, results and errors), and the catalog files its imports read.';


--
-- Name: COLUMN retention_settings.batch_retention; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.retention_settings.batch_retention IS 'How long after a batch finished its own row, counters and run summary are kept (and the sweeper''s log).';


--
-- Name: review_author_counts; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.review_author_counts (
    tenant_id uuid NOT NULL,
    author text NOT NULL,
    reviews integer NOT NULL
);


--
-- Name: TABLE review_author_counts; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.review_author_counts IS 'How many reviews each author wrote in a tenant.';


--
-- Name: COLUMN review_author_counts.tenant_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.review_author_counts.tenant_id IS 'The tenant whose reviews are counted.';


--
-- Name: COLUMN review_author_counts.author; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.review_author_counts.author IS 'The author, as in reviews.author.';


--
-- Name: COLUMN review_author_counts.reviews; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.review_author_counts.reviews IS 'How many reviews of the tenant the author wrote (0 once none is left: rows are not deleted).';


--
-- Name: review_text_counts; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.review_text_counts (
    tenant_id uuid NOT NULL,
    body_key text NOT NULL,
    copies integer NOT NULL
);


--
-- Name: TABLE review_text_counts; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.review_text_counts IS 'How many reviews of a tenant have each (normalised) text: duplicated texts are a sign of fakes.';


--
-- Name: COLUMN review_text_counts.tenant_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.review_text_counts.tenant_id IS 'The tenant whose reviews are counted.';


--
-- Name: COLUMN review_text_counts.body_key; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.review_text_counts.body_key IS 'The text''s key (review_body_key: md5 of the trimmed, lower-cased body).';


--
-- Name: COLUMN review_text_counts.copies; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.review_text_counts.copies IS 'How many of the tenant''s reviews have this text (0 once none has: rows are not deleted).';


--
-- Name: scheduled_tasks; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.scheduled_tasks (
    task_identifier text NOT NULL,
    schedule text NOT NULL,
    period interval NOT NULL,
    registered_at timestamp with time zone DEFAULT now() NOT NULL,
    next_run_at timestamp with time zone,
    last_run_at timestamp with time zone,
    last_batch_ids uuid[] DEFAULT '{}'::uuid[] NOT NULL
);


--
-- Name: TABLE scheduled_tasks; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.scheduled_tasks IS 'One row per crontab entry: written by workers when they start (schedule, period, next run) and each time the task runs.';


--
-- Name: COLUMN scheduled_tasks.task_identifier; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.scheduled_tasks.task_identifier IS 'The task a crontab entry runs.';


--
-- Name: COLUMN scheduled_tasks.schedule; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.scheduled_tasks.schedule IS 'Its five crontab fields (UTC), as the worker that registered it read them (REVIEW_SCORING_CRON overrides start_review_scoring''s).';


--
-- Name: COLUMN scheduled_tasks.period; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.scheduled_tasks.period IS 'The gap between two of its runs, from the next run to the one after it: a run is late after twice this.';


--
-- Name: COLUMN scheduled_tasks.registered_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.scheduled_tasks.registered_at IS 'When a worker first registered the entry: a task that never ran is late twice its period after this.';


--
-- Name: COLUMN scheduled_tasks.next_run_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.scheduled_tasks.next_run_at IS 'When it runs next, as computed by a worker at start and each time the task runs.';


--
-- Name: COLUMN scheduled_tasks.last_run_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.scheduled_tasks.last_run_at IS 'When the task last ran (started); null until it has.';


--
-- Name: COLUMN scheduled_tasks.last_batch_ids; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.scheduled_tasks.last_batch_ids IS 'The batches its last run started, or found still running, one per tenant (scoring runs).';


--
-- Name: sign_in_codes; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.sign_in_codes (
    code_hash bytea NOT NULL,
    role text NOT NULL,
    tenant_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    redeemed_at timestamp with time zone,
    CONSTRAINT sign_in_codes_check CHECK (((role = 'app_admin'::text) OR (tenant_id IS NOT NULL))),
    CONSTRAINT sign_in_codes_role_check CHECK ((role = ANY (ARRAY['app_user'::text, 'app_admin'::text])))
);


--
-- Name: TABLE sign_in_codes; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.sign_in_codes IS 'Sign-in links that work once: the SHA-256 of each code (the code itself is only in the link), who it signs in as, and until when.';


--
-- Name: COLUMN sign_in_codes.code_hash; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.sign_in_codes.code_hash IS 'SHA-256 of the code.';


--
-- Name: COLUMN sign_in_codes.role; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.sign_in_codes.role IS 'The role of the token the code is exchanged for.';


--
-- Name: COLUMN sign_in_codes.tenant_id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.sign_in_codes.tenant_id IS 'The tenant of that token (none: the installation''s operator).';


--
-- Name: COLUMN sign_in_codes.created_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.sign_in_codes.created_at IS 'When the code was made.';


--
-- Name: COLUMN sign_in_codes.expires_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.sign_in_codes.expires_at IS 'After this the code signs no one in.';


--
-- Name: COLUMN sign_in_codes.redeemed_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.sign_in_codes.redeemed_at IS 'When it was used; a code is used once.';


--
-- Name: sweeper_repairs_id_seq; Type: SEQUENCE; Schema: app_private; Owner: -
--

ALTER TABLE app_private.sweeper_repairs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME app_private.sweeper_repairs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: workers; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.workers (
    id text NOT NULL,
    hostname text NOT NULL,
    pid integer NOT NULL,
    concurrency integer NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT workers_concurrency_check CHECK ((concurrency > 0))
);


--
-- Name: TABLE workers; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON TABLE app_private.workers IS 'One row per running Graphile Worker pool, keyed by its id (the `locked_by` of its jobs and items). A worker is alive while its liveness connection holds its advisory lock or its heartbeat is fresh (see worker_is_alive); the items and jobs of a worker that is not are given back.';


--
-- Name: COLUMN workers.id; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.workers.id IS 'The worker pool''s id, as in graphile_worker jobs'' locked_by.';


--
-- Name: COLUMN workers.hostname; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.workers.hostname IS 'Where the worker runs.';


--
-- Name: COLUMN workers.pid; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.workers.pid IS 'Its process id there.';


--
-- Name: COLUMN workers.concurrency; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.workers.concurrency IS 'How many jobs it runs at once.';


--
-- Name: COLUMN workers.started_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.workers.started_at IS 'When it started.';


--
-- Name: COLUMN workers.last_seen_at; Type: COMMENT; Schema: app_private; Owner: -
--

COMMENT ON COLUMN app_private.workers.last_seen_at IS 'Its last heartbeat.';


--
-- Name: batch_items_id_seq; Type: SEQUENCE; Schema: app_public; Owner: -
--

ALTER TABLE app_public.batch_items ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME app_public.batch_items_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: batch_kinds; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.batch_kinds (
    kind text NOT NULL,
    description text NOT NULL,
    task_identifier text NOT NULL,
    chunk_size integer DEFAULT 100 NOT NULL,
    max_attempts integer DEFAULT 3 NOT NULL,
    retry_delay interval DEFAULT '00:00:02'::interval NOT NULL,
    max_retry_delay interval DEFAULT '00:05:00'::interval NOT NULL,
    submitted_by_tenants boolean DEFAULT true NOT NULL,
    priority smallint DEFAULT 0 NOT NULL,
    CONSTRAINT batch_kinds_check CHECK ((max_retry_delay >= retry_delay)),
    CONSTRAINT batch_kinds_chunk_size_check CHECK (((chunk_size >= 1) AND (chunk_size <= 10000))),
    CONSTRAINT batch_kinds_kind_check CHECK ((kind ~ '^[a-z][a-z0-9_]{0,62}$'::text)),
    CONSTRAINT batch_kinds_max_attempts_check CHECK (((max_attempts >= 1) AND (max_attempts <= 100))),
    CONSTRAINT batch_kinds_priority_check CHECK (((priority >= '-2'::integer) AND (priority <= 2))),
    CONSTRAINT batch_kinds_retry_delay_check CHECK ((retry_delay >= '00:00:00'::interval))
);


--
-- Name: TABLE batch_kinds; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.batch_kinds IS '@behavior -insert -update -delete
The kinds of work a batch can hold, and how their items are run and retried.';


--
-- Name: COLUMN batch_kinds.kind; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_kinds.kind IS 'The name a batch is submitted with, e.g. `noop` or `import_catalog`.';


--
-- Name: COLUMN batch_kinds.description; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_kinds.description IS 'What an item of this kind does, and what its payload carries.';


--
-- Name: COLUMN batch_kinds.task_identifier; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_kinds.task_identifier IS 'The Graphile Worker task that runs chunks of items of this kind.';


--
-- Name: COLUMN batch_kinds.chunk_size; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_kinds.chunk_size IS 'How many items one job claims and records in one statement each way.';


--
-- Name: COLUMN batch_kinds.max_attempts; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_kinds.max_attempts IS 'Attempts per item, the first included, before the item is `failed`.';


--
-- Name: COLUMN batch_kinds.retry_delay; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_kinds.retry_delay IS 'Backoff before the second attempt; it doubles with each further attempt.';


--
-- Name: COLUMN batch_kinds.max_retry_delay; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_kinds.max_retry_delay IS 'The ceiling on the doubling backoff.';


--
-- Name: COLUMN batch_kinds.submitted_by_tenants; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_kinds.submitted_by_tenants IS 'Whether tenants may submit batches of this kind; false for the kinds only finishline''s own runs start (`score_reviews`, `score_sellers`).';


--
-- Name: COLUMN batch_kinds.priority; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_kinds.priority IS 'The priority of its batches unless they name one: from -2 (runs first) to 2 (yields to every other); 0 by default. A chunk of a lower number runs before any chunk of a higher one.';


--
-- Name: batch_status_summary; Type: VIEW; Schema: app_public; Owner: -
--

CREATE VIEW app_public.batch_status_summary WITH (security_invoker='true') AS
 SELECT b.id AS batch_id,
    b.tenant_id,
    b.kind,
    b.status,
    b.total_items,
    c.pending_items,
    c.processing_items,
    c.succeeded_items,
    c.failed_items,
    c.cancelled_items,
        CASE
            WHEN (b.total_items = 0) THEN (
            CASE
                WHEN (b.finished_at IS NULL) THEN 0
                ELSE 1
            END)::numeric
            ELSE round(((((c.succeeded_items + c.failed_items) + c.cancelled_items))::numeric / (b.total_items)::numeric), 4)
        END AS progress,
    b.created_at,
    b.started_at,
    b.finished_at,
    c.last_item_finished_at,
    (EXISTS ( SELECT 1
           FROM app_public.run_summaries s
          WHERE (s.batch_id = b.id))) AS has_summary,
        CASE
            WHEN ((b.finished_at IS NULL) OR (NOT (EXISTS ( SELECT 1
               FROM app_public.run_summaries s
              WHERE (s.batch_id = b.id))))) THEN app_private.batch_stuck_reason(b.id, c.pending_items, c.processing_items, c.updated_at, b.finished_at)
            ELSE NULL::text
        END AS stuck_reason,
    b.items_pruned_at
   FROM (app_public.batches b
     CROSS JOIN LATERAL ( SELECT c_1.batch_id,
            c_1.pending_items,
            c_1.processing_items,
            c_1.succeeded_items,
            c_1.failed_items,
            c_1.cancelled_items,
            c_1.last_item_finished_at,
            c_1.sealed,
            c_1.updated_at
           FROM app_private.batch_counters c_1
          WHERE (c_1.batch_id = b.id)
         OFFSET 0) c);


--
-- Name: VIEW batch_status_summary; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON VIEW app_public.batch_status_summary IS '@primaryKey batch_id
@behavior -insert -update -delete
@foreignKey (batch_id) references app_public.batches (id)|@fieldName batch|@foreignFieldName statusSummary
@foreignKey (tenant_id) references app_public.tenants (id)|@fieldName tenant
One row per batch: where it stands, read from counters kept by the database.';


--
-- Name: COLUMN batch_status_summary.batch_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.batch_id IS 'The batch.';


--
-- Name: COLUMN batch_status_summary.tenant_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.tenant_id IS 'The tenant that owns it.';


--
-- Name: COLUMN batch_status_summary.kind; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.kind IS 'Its kind.';


--
-- Name: COLUMN batch_status_summary.status; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.status IS 'Its status (see batches.status).';


--
-- Name: COLUMN batch_status_summary.total_items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.total_items IS 'Items in the batch.';


--
-- Name: COLUMN batch_status_summary.pending_items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.pending_items IS 'Items waiting to run (including those waiting out a retry''s backoff).';


--
-- Name: COLUMN batch_status_summary.processing_items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.processing_items IS 'Items running now.';


--
-- Name: COLUMN batch_status_summary.succeeded_items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.succeeded_items IS 'Items that succeeded.';


--
-- Name: COLUMN batch_status_summary.failed_items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.failed_items IS 'Items that failed after their last attempt.';


--
-- Name: COLUMN batch_status_summary.cancelled_items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.cancelled_items IS 'Items cancelled.';


--
-- Name: COLUMN batch_status_summary.progress; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.progress IS 'Share of items in a terminal state, from 0 to 1 (1 for a finished empty batch).';


--
-- Name: COLUMN batch_status_summary.created_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.created_at IS 'When the batch was submitted.';


--
-- Name: COLUMN batch_status_summary.started_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.started_at IS 'When its first item started.';


--
-- Name: COLUMN batch_status_summary.finished_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.finished_at IS 'When it finished.';


--
-- Name: COLUMN batch_status_summary.last_item_finished_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.last_item_finished_at IS 'When an item last reached a terminal state.';


--
-- Name: COLUMN batch_status_summary.has_summary; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.has_summary IS 'Whether its run summary has been written.';


--
-- Name: COLUMN batch_status_summary.stuck_reason; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.stuck_reason IS 'Null when all is well (or the batch is finished and summarised). Otherwise why it is not moving: `no_worker_alive` (no worker runs), `items_held_by_dead_worker` and `jobs_held_by_dead_worker` (a worker died holding them; the next heartbeat of a live worker gives them back), `counters_out_of_date` (the counters say items are pending but none is; the sweeper will correct them), `waiting_for_retry_backoff` (every pending item waits for its retry time), `waiting_for_tenant_limit` (its tenant runs as many chunks as its max_running_chunks allows, in other batches), `items_without_job` (pending items lost their jobs; the sweeper will enqueue them again); or, for a finished batch, why its summary is not written yet: `summary_held_by_dead_worker` (its job is locked by a worker that died; it is unlocked like that worker''s other jobs), `summary_not_enqueued` (no job will write it; the sweeper enqueues one, and request_batch_summary does at once).';


--
-- Name: COLUMN batch_status_summary.items_pruned_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.batch_status_summary.items_pruned_at IS 'When its items were removed, past the items'' retention; null while they are kept. Its counts, status, times and run summary stay.';


--
-- Name: product_recommendations; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.product_recommendations (
    product_id uuid NOT NULL,
    rank smallint NOT NULL,
    recommended_product_id uuid NOT NULL,
    score real NOT NULL,
    model_version_id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    CONSTRAINT product_recommendations_rank_check CHECK ((rank >= 1))
);


--
-- Name: TABLE product_recommendations; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.product_recommendations IS '@behavior -insert -update -delete
@foreignKey (recommended_product_id) references app_public.products (id)|@fieldName recommendedProduct|@foreignFieldName recommendedWith
The active recommender''s nearest neighbours of each approved product, best first. A recommended product deleted or unapproved since the last retrain stays here until the next one; `recommendationsFor` leaves it out at once.';


--
-- Name: COLUMN product_recommendations.product_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.product_recommendations.product_id IS 'The product the recommendations are for.';


--
-- Name: COLUMN product_recommendations.rank; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.product_recommendations.rank IS 'Position in its list, from 1 (the most similar).';


--
-- Name: COLUMN product_recommendations.recommended_product_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.product_recommendations.recommended_product_id IS 'The product recommended (not a foreign key, so that deleting a product never waits on this table; the next retrain removes it).';


--
-- Name: COLUMN product_recommendations.score; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.product_recommendations.score IS 'Cosine similarity of the two products'' embeddings, from -1 to 1.';


--
-- Name: COLUMN product_recommendations.model_version_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.product_recommendations.model_version_id IS 'The recommender version that computed this list; an incremental retrain recomputes only the lists a change can alter and keeps the others.';


--
-- Name: COLUMN product_recommendations.tenant_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.product_recommendations.tenant_id IS 'The tenant both products belong to (its rows go with the product''s, so no foreign key of its own).';


--
-- Name: recent_sweeper_repairs; Type: VIEW; Schema: app_public; Owner: -
--

CREATE VIEW app_public.recent_sweeper_repairs WITH (security_invoker='true') AS
 SELECT recent_sweeper_repairs_seen_by_caller.id,
    recent_sweeper_repairs_seen_by_caller.repaired_at,
    recent_sweeper_repairs_seen_by_caller.repair,
    recent_sweeper_repairs_seen_by_caller.batch_id,
    recent_sweeper_repairs_seen_by_caller.worker_id,
    recent_sweeper_repairs_seen_by_caller.details
   FROM app_private.recent_sweeper_repairs_seen_by_caller() recent_sweeper_repairs_seen_by_caller(id, repaired_at, repair, batch_id, worker_id, details);


--
-- Name: VIEW recent_sweeper_repairs; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON VIEW app_public.recent_sweeper_repairs IS '@primaryKey id
@behavior -insert -update -delete -aggregates
What the sweeper repaired in the last 24 hours (installation''s operator only: an admin token without tenant_id; no rows for anyone else). Each repair means a worker crashed or something was damaged.';


--
-- Name: COLUMN recent_sweeper_repairs.id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.recent_sweeper_repairs.id IS 'The repair''s id.';


--
-- Name: COLUMN recent_sweeper_repairs.repaired_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.recent_sweeper_repairs.repaired_at IS 'When it was made.';


--
-- Name: COLUMN recent_sweeper_repairs.repair; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.recent_sweeper_repairs.repair IS '`released_items` (items of a dead worker back in the queue), `removed_dead_worker`, `returned_lost_jobs` (jobs locked for a live worker that never received them), `corrected_counters`, `settled_batch` (a batch''s status was not what its counters imply: a finalization had not run), `enqueued_summary` (a finished batch had no summary nor a job for one), `enqueued_orphaned_items` (pending items had no job).';


--
-- Name: COLUMN recent_sweeper_repairs.batch_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.recent_sweeper_repairs.batch_id IS 'The batch repaired, if any.';


--
-- Name: COLUMN recent_sweeper_repairs.worker_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.recent_sweeper_repairs.worker_id IS 'The dead worker concerned, if any.';


--
-- Name: COLUMN recent_sweeper_repairs.details; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.recent_sweeper_repairs.details IS 'What was found and what was done.';


--
-- Name: review_scores; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.review_scores (
    review_id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    score real NOT NULL,
    model_version_id uuid NOT NULL,
    scored_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT review_scores_score_check CHECK (((score >= (0)::double precision) AND (score <= (1)::double precision)))
);


--
-- Name: TABLE review_scores; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.review_scores IS '@behavior -insert -update -delete
The latest score of each review.';


--
-- Name: COLUMN review_scores.review_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.review_scores.review_id IS 'The review scored.';


--
-- Name: COLUMN review_scores.tenant_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.review_scores.tenant_id IS 'The tenant it belongs to.';


--
-- Name: COLUMN review_scores.score; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.review_scores.score IS 'The probability, from 0 to 1, that the review is fake.';


--
-- Name: COLUMN review_scores.model_version_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.review_scores.model_version_id IS 'The review_scorer version that scored it.';


--
-- Name: COLUMN review_scores.scored_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.review_scores.scored_at IS 'When it was scored; a review edited since is due again.';


--
-- Name: scheduler_status; Type: VIEW; Schema: app_public; Owner: -
--

CREATE VIEW app_public.scheduler_status WITH (security_invoker='true') AS
 SELECT t.task_identifier,
    t.schedule,
    t.last_run_at,
    t.next_run_at,
    (COALESCE(t.last_run_at, t.registered_at) < (now() - ((2)::double precision * t.period))) AS is_late,
    last.id AS last_batch_id,
    last.status AS last_batch_status
   FROM (app_private.scheduled_tasks t
     LEFT JOIN LATERAL ( SELECT b.id,
            b.status
           FROM app_public.batches b
          WHERE (b.id = ANY (t.last_batch_ids))
          ORDER BY b.created_at DESC
         LIMIT 1) last ON (true));


--
-- Name: VIEW scheduler_status; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON VIEW app_public.scheduler_status IS '@primaryKey task_identifier
@behavior -insert -update -delete
One row per scheduled task (admins only): a scheduler that does not run shows up here as late.';


--
-- Name: COLUMN scheduler_status.task_identifier; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scheduler_status.task_identifier IS 'The task the crontab runs.';


--
-- Name: COLUMN scheduler_status.schedule; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scheduler_status.schedule IS 'Its crontab schedule (UTC).';


--
-- Name: COLUMN scheduler_status.last_run_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scheduler_status.last_run_at IS 'When it last ran.';


--
-- Name: COLUMN scheduler_status.next_run_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scheduler_status.next_run_at IS 'When it runs next.';


--
-- Name: COLUMN scheduler_status.is_late; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scheduler_status.is_late IS 'True when it has not run for twice its period (counted from when it was first scheduled, if it never ran).';


--
-- Name: COLUMN scheduler_status.last_batch_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scheduler_status.last_batch_id IS 'The last batch its last run started (a tenant''s admin sees its own tenant''s only).';


--
-- Name: COLUMN scheduler_status.last_batch_status; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scheduler_status.last_batch_status IS 'That batch''s status.';


--
-- Name: scraped_pages; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.scraped_pages (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    tenant_id uuid DEFAULT app_public.current_tenant_id() NOT NULL,
    url text NOT NULL,
    final_url text NOT NULL,
    http_status smallint NOT NULL,
    content_type text,
    title text,
    meta_description text,
    canonical_url text,
    language text,
    products_found integer DEFAULT 0 NOT NULL,
    seller_id uuid,
    batch_item_id bigint,
    fetched_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT scraped_pages_canonical_url_check CHECK ((length(canonical_url) <= 2048)),
    CONSTRAINT scraped_pages_content_type_check CHECK ((length(content_type) <= 200)),
    CONSTRAINT scraped_pages_final_url_check CHECK (((final_url ~ '^https?://'::text) AND (length(final_url) <= 2048))),
    CONSTRAINT scraped_pages_http_status_check CHECK (((http_status >= 100) AND (http_status <= 599))),
    CONSTRAINT scraped_pages_language_check CHECK ((length(language) <= 35)),
    CONSTRAINT scraped_pages_meta_description_check CHECK ((length(meta_description) <= 5000)),
    CONSTRAINT scraped_pages_products_found_check CHECK ((products_found >= 0)),
    CONSTRAINT scraped_pages_title_check CHECK ((length(title) <= 1000)),
    CONSTRAINT scraped_pages_url_check CHECK (((url ~ '^https?://'::text) AND (length(url) <= 2048)))
);


--
-- Name: TABLE scraped_pages; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.scraped_pages IS '@behavior -insert -update -delete
A seller''s storefront page as last scraped by a `scrape_pages` batch: its metadata, and how many products it lists. One row per tenant and URL; scraping the URL again updates it.';


--
-- Name: COLUMN scraped_pages.id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.id IS 'The page''s id.';


--
-- Name: COLUMN scraped_pages.tenant_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.tenant_id IS 'The tenant that scraped it.';


--
-- Name: COLUMN scraped_pages.url; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.url IS 'The URL the batch item asked for (unique per tenant).';


--
-- Name: COLUMN scraped_pages.final_url; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.final_url IS 'The URL the page was fetched from, after redirects.';


--
-- Name: COLUMN scraped_pages.http_status; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.http_status IS 'The HTTP status of the final response (a 2xx: other statuses fail the item).';


--
-- Name: COLUMN scraped_pages.content_type; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.content_type IS 'The response''s Content-Type header, e.g. `text/html; charset=utf-8`.';


--
-- Name: COLUMN scraped_pages.title; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.title IS 'The document''s `<title>`, whitespace collapsed (first 1,000 characters).';


--
-- Name: COLUMN scraped_pages.meta_description; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.meta_description IS 'The content of `<meta name="description">` (first 5,000 characters).';


--
-- Name: COLUMN scraped_pages.canonical_url; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.canonical_url IS 'The absolute URL of `<link rel="canonical">`, if the page has one.';


--
-- Name: COLUMN scraped_pages.language; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.language IS 'The page''s language: `<html lang>`, else `<meta http-equiv="content-language">`, else the Content-Language header.';


--
-- Name: COLUMN scraped_pages.products_found; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.products_found IS 'How many distinct products (JSON-LD `Product` with a priced offer) the page lists; they are upserted into `products` of the seller.';


--
-- Name: COLUMN scraped_pages.seller_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.seller_id IS 'The seller whose storefront this is: the tenant''s seller whose `domain` is the page''s host (created, named after the host, if there was none).';


--
-- Name: COLUMN scraped_pages.batch_item_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.batch_item_id IS 'The batch item that last fetched it (null once that item is pruned or its batch deleted).';


--
-- Name: COLUMN scraped_pages.fetched_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.scraped_pages.fetched_at IS 'When it was last fetched.';


--
-- Name: seller_scores; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.seller_scores (
    seller_id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    score real NOT NULL,
    confidence real NOT NULL,
    product_count integer NOT NULL,
    review_count integer NOT NULL,
    model_version_id uuid NOT NULL,
    scored_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT seller_scores_confidence_check CHECK (((confidence >= (0)::double precision) AND (confidence <= (1)::double precision))),
    CONSTRAINT seller_scores_product_count_check CHECK ((product_count >= 0)),
    CONSTRAINT seller_scores_review_count_check CHECK ((review_count >= 0)),
    CONSTRAINT seller_scores_score_check CHECK (((score >= (0)::double precision) AND (score <= (1)::double precision)))
);


--
-- Name: TABLE seller_scores; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.seller_scores IS '@behavior -insert -update -delete
The latest score of each seller, from the seller–product–review graph.';


--
-- Name: COLUMN seller_scores.seller_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.seller_scores.seller_id IS 'The seller scored.';


--
-- Name: COLUMN seller_scores.tenant_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.seller_scores.tenant_id IS 'The tenant it belongs to.';


--
-- Name: COLUMN seller_scores.score; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.seller_scores.score IS 'From 0 to 1: the trust-weighted mean rating of the seller''s reviews, pulled toward a prior when there is little evidence.';


--
-- Name: COLUMN seller_scores.confidence; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.seller_scores.confidence IS 'From 0 to 1: how much evidence (trusted reviews) the score rests on.';


--
-- Name: COLUMN seller_scores.product_count; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.seller_scores.product_count IS 'Products of the seller.';


--
-- Name: COLUMN seller_scores.review_count; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.seller_scores.review_count IS 'Reviews of its products.';


--
-- Name: COLUMN seller_scores.model_version_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.seller_scores.model_version_id IS 'The seller_scorer version that scored it.';


--
-- Name: COLUMN seller_scores.scored_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.seller_scores.scored_at IS 'When it was scored.';


--
-- Name: sellers; Type: TABLE; Schema: app_public; Owner: -
--

CREATE TABLE app_public.sellers (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    tenant_id uuid DEFAULT app_public.current_tenant_id() NOT NULL,
    name text NOT NULL,
    domain text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT sellers_domain_check CHECK ((domain ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$'::text)),
    CONSTRAINT sellers_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200)))
);


--
-- Name: TABLE sellers; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON TABLE app_public.sellers IS '@behavior -insert -update -delete
A shop that sells on the marketplace.';


--
-- Name: COLUMN sellers.id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.sellers.id IS 'The seller''s id.';


--
-- Name: COLUMN sellers.tenant_id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.sellers.tenant_id IS 'The tenant the seller belongs to.';


--
-- Name: COLUMN sellers.name; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.sellers.name IS 'The seller''s name, unique within the tenant; catalog files name their seller by it.';


--
-- Name: COLUMN sellers.domain; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.sellers.domain IS 'The host of the seller''s storefront (for scraping), e.g. `shop.example.com`.';


--
-- Name: COLUMN sellers.created_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.sellers.created_at IS 'When the seller was created.';


--
-- Name: task_queues; Type: VIEW; Schema: app_public; Owner: -
--

CREATE VIEW app_public.task_queues WITH (security_invoker='true') AS
 SELECT task_queues_seen_by_caller.task_identifier,
    task_queues_seen_by_caller.runnable_jobs,
    task_queues_seen_by_caller.oldest_runnable_at,
    task_queues_seen_by_caller.oldest_runnable_age_seconds,
    task_queues_seen_by_caller.running_jobs,
    task_queues_seen_by_caller.scheduled_jobs,
    task_queues_seen_by_caller.failed_jobs
   FROM app_private.task_queues_seen_by_caller() task_queues_seen_by_caller(task_identifier, runnable_jobs, oldest_runnable_at, oldest_runnable_age_seconds, running_jobs, scheduled_jobs, failed_jobs);


--
-- Name: VIEW task_queues; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON VIEW app_public.task_queues IS '@primaryKey task_identifier
@behavior -insert -update -delete -connection +list
Graphile Worker''s queue, one row per task that has jobs (installation''s operator only: an admin token without tenant_id; no rows for anyone else). A batch''s items run as jobs of its kind''s task, a chunk of items a job.';


--
-- Name: COLUMN task_queues.task_identifier; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.task_queues.task_identifier IS 'The task.';


--
-- Name: COLUMN task_queues.runnable_jobs; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.task_queues.runnable_jobs IS 'Jobs that could run now and wait for a worker.';


--
-- Name: COLUMN task_queues.oldest_runnable_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.task_queues.oldest_runnable_at IS 'Since when the oldest of those could run.';


--
-- Name: COLUMN task_queues.oldest_runnable_age_seconds; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.task_queues.oldest_runnable_age_seconds IS 'How long the oldest of those has waited, in seconds: a figure that keeps growing means the workers do not keep up (or none runs).';


--
-- Name: COLUMN task_queues.running_jobs; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.task_queues.running_jobs IS 'Jobs a worker holds now.';


--
-- Name: COLUMN task_queues.scheduled_jobs; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.task_queues.scheduled_jobs IS 'Jobs waiting for their time (a retry''s backoff, a debounce).';


--
-- Name: COLUMN task_queues.failed_jobs; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.task_queues.failed_jobs IS 'Jobs that used all their attempts and stay in the queue for inspection.';


--
-- Name: workers; Type: VIEW; Schema: app_public; Owner: -
--

CREATE VIEW app_public.workers WITH (security_invoker='true') AS
 SELECT workers_seen_by_caller.id,
    workers_seen_by_caller.hostname,
    workers_seen_by_caller.pid,
    workers_seen_by_caller.concurrency,
    workers_seen_by_caller.started_at,
    workers_seen_by_caller.last_seen_at,
    workers_seen_by_caller.is_alive,
    workers_seen_by_caller.processing_items
   FROM app_private.workers_seen_by_caller() workers_seen_by_caller(id, hostname, pid, concurrency, started_at, last_seen_at, is_alive, processing_items);


--
-- Name: VIEW workers; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON VIEW app_public.workers IS '@primaryKey id
@behavior -insert -update -delete -connection +list
Worker processes with a heartbeat row, the living and those the sweeper has yet to remove (installation''s operator only: an admin token without tenant_id; no rows for anyone else).';


--
-- Name: COLUMN workers.id; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.workers.id IS 'The worker pool''s id (the `locked_by` of its jobs and items).';


--
-- Name: COLUMN workers.hostname; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.workers.hostname IS 'Where it runs.';


--
-- Name: COLUMN workers.pid; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.workers.pid IS 'Its process id there.';


--
-- Name: COLUMN workers.concurrency; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.workers.concurrency IS 'How many jobs it runs at once.';


--
-- Name: COLUMN workers.started_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.workers.started_at IS 'When it started.';


--
-- Name: COLUMN workers.last_seen_at; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.workers.last_seen_at IS 'Its last heartbeat.';


--
-- Name: COLUMN workers.is_alive; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.workers.is_alive IS 'Whether it runs: its liveness connection holds its lock, or its heartbeat is fresh (within finishline.worker_stale_after, 5 s by default). A worker that is not alive has stopped; the next heartbeat of another worker gives its items and jobs back and removes it.';


--
-- Name: COLUMN workers.processing_items; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON COLUMN app_public.workers.processing_items IS 'Batch items it is running now: those of the chunks it runs that it has not finished.';


--
-- Name: migrations id; Type: DEFAULT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.migrations ALTER COLUMN id SET DEFAULT nextval('app_private.migrations_id_seq'::regclass);


--
-- Name: batch_counter_slots batch_counter_slots_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.batch_counter_slots
    ADD CONSTRAINT batch_counter_slots_pkey PRIMARY KEY (batch_id, slot);


--
-- Name: batches_being_pruned batches_being_pruned_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.batches_being_pruned
    ADD CONSTRAINT batches_being_pruned_pkey PRIMARY KEY (batch_id);


--
-- Name: catalog_file_chunks catalog_file_chunks_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.catalog_file_chunks
    ADD CONSTRAINT catalog_file_chunks_pkey PRIMARY KEY (file_id, seq);


--
-- Name: chunk_jobs chunk_jobs_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.chunk_jobs
    ADD CONSTRAINT chunk_jobs_pkey PRIMARY KEY (batch_id, job_id);


--
-- Name: host_cooldowns host_cooldowns_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.host_cooldowns
    ADD CONSTRAINT host_cooldowns_pkey PRIMARY KEY (host);


--
-- Name: host_leases host_leases_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.host_leases
    ADD CONSTRAINT host_leases_pkey PRIMARY KEY (host, slot);


--
-- Name: migrations migrations_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.migrations
    ADD CONSTRAINT migrations_pkey PRIMARY KEY (id);


--
-- Name: model_files model_files_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.model_files
    ADD CONSTRAINT model_files_pkey PRIMARY KEY (model_version_id);


--
-- Name: product_review_stats product_review_stats_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.product_review_stats
    ADD CONSTRAINT product_review_stats_pkey PRIMARY KEY (product_id);


--
-- Name: recommender_changes recommender_changes_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.recommender_changes
    ADD CONSTRAINT recommender_changes_pkey PRIMARY KEY (id);


--
-- Name: recommender_changes recommender_changes_transaction_id_tenant_id_key; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.recommender_changes
    ADD CONSTRAINT recommender_changes_transaction_id_tenant_id_key UNIQUE (transaction_id, tenant_id);


--
-- Name: recommender_inputs recommender_inputs_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.recommender_inputs
    ADD CONSTRAINT recommender_inputs_pkey PRIMARY KEY (product_id);


--
-- Name: recommender_settings recommender_settings_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.recommender_settings
    ADD CONSTRAINT recommender_settings_pkey PRIMARY KEY (singleton);


--
-- Name: retention_settings retention_settings_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.retention_settings
    ADD CONSTRAINT retention_settings_pkey PRIMARY KEY (singleton);


--
-- Name: review_author_counts review_author_counts_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.review_author_counts
    ADD CONSTRAINT review_author_counts_pkey PRIMARY KEY (tenant_id, author);


--
-- Name: review_text_counts review_text_counts_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.review_text_counts
    ADD CONSTRAINT review_text_counts_pkey PRIMARY KEY (tenant_id, body_key);


--
-- Name: scheduled_tasks scheduled_tasks_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.scheduled_tasks
    ADD CONSTRAINT scheduled_tasks_pkey PRIMARY KEY (task_identifier);


--
-- Name: sign_in_codes sign_in_codes_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.sign_in_codes
    ADD CONSTRAINT sign_in_codes_pkey PRIMARY KEY (code_hash);


--
-- Name: sweeper_repairs sweeper_repairs_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.sweeper_repairs
    ADD CONSTRAINT sweeper_repairs_pkey PRIMARY KEY (id);


--
-- Name: workers workers_pkey; Type: CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.workers
    ADD CONSTRAINT workers_pkey PRIMARY KEY (id);


--
-- Name: batch_items batch_items_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.batch_items
    ADD CONSTRAINT batch_items_pkey PRIMARY KEY (id);


--
-- Name: batch_kinds batch_kinds_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.batch_kinds
    ADD CONSTRAINT batch_kinds_pkey PRIMARY KEY (kind);


--
-- Name: batches batches_id_tenant_id_key; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.batches
    ADD CONSTRAINT batches_id_tenant_id_key UNIQUE (id, tenant_id);


--
-- Name: CONSTRAINT batches_id_tenant_id_key ON batches; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT batches_id_tenant_id_key ON app_public.batches IS '@behavior -single';


--
-- Name: batches batches_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.batches
    ADD CONSTRAINT batches_pkey PRIMARY KEY (id);


--
-- Name: batches batches_tenant_id_idempotency_key_key; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.batches
    ADD CONSTRAINT batches_tenant_id_idempotency_key_key UNIQUE (tenant_id, idempotency_key);


--
-- Name: catalog_files catalog_files_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.catalog_files
    ADD CONSTRAINT catalog_files_pkey PRIMARY KEY (id);


--
-- Name: catalog_files catalog_files_tenant_id_sha256_key; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.catalog_files
    ADD CONSTRAINT catalog_files_tenant_id_sha256_key UNIQUE (tenant_id, sha256);


--
-- Name: model_versions model_versions_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.model_versions
    ADD CONSTRAINT model_versions_pkey PRIMARY KEY (id);


--
-- Name: product_recommendations product_recommendations_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.product_recommendations
    ADD CONSTRAINT product_recommendations_pkey PRIMARY KEY (product_id, rank);


--
-- Name: products products_id_tenant_id_key; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.products
    ADD CONSTRAINT products_id_tenant_id_key UNIQUE (id, tenant_id);


--
-- Name: CONSTRAINT products_id_tenant_id_key ON products; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT products_id_tenant_id_key ON app_public.products IS '@behavior -single';


--
-- Name: products products_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.products
    ADD CONSTRAINT products_pkey PRIMARY KEY (id);


--
-- Name: products products_seller_id_sku_key; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.products
    ADD CONSTRAINT products_seller_id_sku_key UNIQUE (seller_id, sku);


--
-- Name: review_scores review_scores_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.review_scores
    ADD CONSTRAINT review_scores_pkey PRIMARY KEY (review_id);


--
-- Name: reviews reviews_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.reviews
    ADD CONSTRAINT reviews_pkey PRIMARY KEY (id);


--
-- Name: reviews reviews_product_id_author_key; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.reviews
    ADD CONSTRAINT reviews_product_id_author_key UNIQUE (product_id, author);


--
-- Name: run_summaries run_summaries_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.run_summaries
    ADD CONSTRAINT run_summaries_pkey PRIMARY KEY (batch_id);


--
-- Name: scraped_pages scraped_pages_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.scraped_pages
    ADD CONSTRAINT scraped_pages_pkey PRIMARY KEY (id);


--
-- Name: scraped_pages scraped_pages_tenant_id_url_key; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.scraped_pages
    ADD CONSTRAINT scraped_pages_tenant_id_url_key UNIQUE (tenant_id, url);


--
-- Name: seller_scores seller_scores_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.seller_scores
    ADD CONSTRAINT seller_scores_pkey PRIMARY KEY (seller_id);


--
-- Name: sellers sellers_id_tenant_id_key; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.sellers
    ADD CONSTRAINT sellers_id_tenant_id_key UNIQUE (id, tenant_id);


--
-- Name: CONSTRAINT sellers_id_tenant_id_key ON sellers; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT sellers_id_tenant_id_key ON app_public.sellers IS '@behavior -single';


--
-- Name: sellers sellers_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.sellers
    ADD CONSTRAINT sellers_pkey PRIMARY KEY (id);


--
-- Name: sellers sellers_tenant_id_name_key; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.sellers
    ADD CONSTRAINT sellers_tenant_id_name_key UNIQUE (tenant_id, name);


--
-- Name: tenants tenants_name_key; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.tenants
    ADD CONSTRAINT tenants_name_key UNIQUE (name);


--
-- Name: tenants tenants_pkey; Type: CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.tenants
    ADD CONSTRAINT tenants_pkey PRIMARY KEY (id);


--
-- Name: recommender_inputs_tenant_id_idx; Type: INDEX; Schema: app_private; Owner: -
--

CREATE INDEX recommender_inputs_tenant_id_idx ON app_private.recommender_inputs USING btree (tenant_id);


--
-- Name: sweeper_repairs_repaired_at_idx; Type: INDEX; Schema: app_private; Owner: -
--

CREATE INDEX sweeper_repairs_repaired_at_idx ON app_private.sweeper_repairs USING btree (repaired_at);


--
-- Name: batch_items_batch_id_id_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX batch_items_batch_id_id_idx ON app_public.batch_items USING btree (batch_id, id);


--
-- Name: batches_created_at_id_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX batches_created_at_id_idx ON app_public.batches USING btree (created_at DESC, id DESC);


--
-- Name: batches_items_kept_finished_at_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX batches_items_kept_finished_at_idx ON app_public.batches USING btree (finished_at) WHERE ((finished_at IS NOT NULL) AND (items_pruned_at IS NULL));


--
-- Name: batches_items_pruned_finished_at_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX batches_items_pruned_finished_at_idx ON app_public.batches USING btree (finished_at) WHERE (items_pruned_at IS NOT NULL);


--
-- Name: batches_kind_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX batches_kind_idx ON app_public.batches USING btree (kind);


--
-- Name: batches_tenant_id_created_at_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX batches_tenant_id_created_at_idx ON app_public.batches USING btree (tenant_id, created_at DESC);


--
-- Name: batches_unfinished_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX batches_unfinished_idx ON app_public.batches USING btree (status) WHERE (finished_at IS NULL);


--
-- Name: model_versions_kind_trained_at_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX model_versions_kind_trained_at_idx ON app_public.model_versions USING btree (kind, trained_at DESC);


--
-- Name: model_versions_one_active_per_kind; Type: INDEX; Schema: app_public; Owner: -
--

CREATE UNIQUE INDEX model_versions_one_active_per_kind ON app_public.model_versions USING btree (kind) WHERE is_active;


--
-- Name: product_recommendations_recommended_product_id_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX product_recommendations_recommended_product_id_idx ON app_public.product_recommendations USING btree (recommended_product_id);


--
-- Name: product_recommendations_tenant_id_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX product_recommendations_tenant_id_idx ON app_public.product_recommendations USING btree (tenant_id);


--
-- Name: products_category_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX products_category_idx ON app_public.products USING btree (category);


--
-- Name: products_tenant_id_status_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX products_tenant_id_status_idx ON app_public.products USING btree (tenant_id, status);


--
-- Name: review_scores_model_version_id_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX review_scores_model_version_id_idx ON app_public.review_scores USING btree (model_version_id);


--
-- Name: review_scores_tenant_id_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX review_scores_tenant_id_idx ON app_public.review_scores USING btree (tenant_id);


--
-- Name: reviews_author_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX reviews_author_idx ON app_public.reviews USING btree (tenant_id, author);


--
-- Name: reviews_product_id_created_at_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX reviews_product_id_created_at_idx ON app_public.reviews USING btree (product_id, created_at);


--
-- Name: reviews_tenant_id_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX reviews_tenant_id_idx ON app_public.reviews USING btree (tenant_id);


--
-- Name: run_summaries_tenant_id_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX run_summaries_tenant_id_idx ON app_public.run_summaries USING btree (tenant_id);


--
-- Name: scraped_pages_batch_item_id_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX scraped_pages_batch_item_id_idx ON app_public.scraped_pages USING btree (batch_item_id);


--
-- Name: scraped_pages_seller_id_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX scraped_pages_seller_id_idx ON app_public.scraped_pages USING btree (seller_id);


--
-- Name: scraped_pages_tenant_id_fetched_at_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX scraped_pages_tenant_id_fetched_at_idx ON app_public.scraped_pages USING btree (tenant_id, fetched_at DESC);


--
-- Name: seller_scores_tenant_id_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX seller_scores_tenant_id_idx ON app_public.seller_scores USING btree (tenant_id);


--
-- Name: sellers_tenant_id_idx; Type: INDEX; Schema: app_public; Owner: -
--

CREATE INDEX sellers_tenant_id_idx ON app_public.sellers USING btree (tenant_id);


--
-- Name: recommender_changes _500_enqueue_retrain; Type: TRIGGER; Schema: app_private; Owner: -
--

CREATE CONSTRAINT TRIGGER _500_enqueue_retrain AFTER INSERT ON app_private.recommender_changes DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION app_private.tg_recommender_changes__enqueue_retrain();


--
-- Name: recommender_settings _500_move_queued_retrain; Type: TRIGGER; Schema: app_private; Owner: -
--

CREATE TRIGGER _500_move_queued_retrain AFTER UPDATE ON app_private.recommender_settings FOR EACH ROW WHEN (((old.debounce IS DISTINCT FROM new.debounce) OR (old.max_wait IS DISTINCT FROM new.max_wait))) EXECUTE FUNCTION app_private.tg_recommender_settings__move_queued_retrain();


--
-- Name: batches _010_refuse_move; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _010_refuse_move BEFORE UPDATE OF id, tenant_id ON app_public.batches FOR EACH ROW WHEN (((old.id <> new.id) OR (old.tenant_id <> new.tenant_id))) EXECUTE FUNCTION app_private.tg_batches__refuse_move();


--
-- Name: batches _040_refuse_run_only_kinds; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _040_refuse_run_only_kinds BEFORE INSERT ON app_public.batches FOR EACH ROW EXECUTE FUNCTION app_private.tg_batches__refuse_run_only_kinds();


--
-- Name: products _050_fill_tenant_id; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _050_fill_tenant_id BEFORE INSERT ON app_public.products FOR EACH ROW WHEN ((new.tenant_id IS NULL)) EXECUTE FUNCTION app_private.tg__fill_tenant_id_from_parent();


--
-- Name: reviews _050_fill_tenant_id; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _050_fill_tenant_id BEFORE INSERT ON app_public.reviews FOR EACH ROW WHEN ((new.tenant_id IS NULL)) EXECUTE FUNCTION app_private.tg__fill_tenant_id_from_parent();


--
-- Name: batches _050_guard_new_batch; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _050_guard_new_batch BEFORE INSERT ON app_public.batches FOR EACH ROW WHEN (((new.status <> 'pending'::text) OR (new.total_items <> 0) OR (new.started_at IS NOT NULL) OR (new.finished_at IS NOT NULL) OR (new.items_pruned_at IS NOT NULL))) EXECUTE FUNCTION app_private.tg_batches__refuse_new_status();


--
-- Name: batches _100_create_counters; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _100_create_counters AFTER INSERT ON app_public.batches FOR EACH ROW EXECUTE FUNCTION app_private.tg_batches__create_counters();


--
-- Name: batches _100_delete_items; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _100_delete_items AFTER DELETE ON app_public.batches REFERENCING OLD TABLE AS deleted_batches FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_batches__delete_items();


--
-- Name: batch_items _100_fill_tenant_id; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _100_fill_tenant_id BEFORE INSERT ON app_public.batch_items FOR EACH ROW WHEN ((new.tenant_id IS NULL)) EXECUTE FUNCTION app_private.tg_batch_items__fill_tenant_id();


--
-- Name: products _100_touch_updated_at; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _100_touch_updated_at BEFORE UPDATE ON app_public.products FOR EACH ROW WHEN ((old.* IS DISTINCT FROM new.*)) EXECUTE FUNCTION app_private.tg__touch_updated_at();


--
-- Name: reviews _100_touch_updated_at; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _100_touch_updated_at BEFORE UPDATE ON app_public.reviews FOR EACH ROW WHEN ((old.* IS DISTINCT FROM new.*)) EXECUTE FUNCTION app_private.tg__touch_updated_at();


--
-- Name: batches _100_truncate_items; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _100_truncate_items AFTER TRUNCATE ON app_public.batches FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_batches__delete_items();


--
-- Name: products _200_back_to_pending; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _200_back_to_pending BEFORE UPDATE ON app_public.products FOR EACH ROW WHEN (((((((((old.sku IS DISTINCT FROM new.sku) OR (old.name IS DISTINCT FROM new.name)) OR (old.description IS DISTINCT FROM new.description)) OR (old.category IS DISTINCT FROM new.category)) OR (old.price IS DISTINCT FROM new.price)) OR (old.currency IS DISTINCT FROM new.currency)) OR (old.stock IS DISTINCT FROM new.stock)) AND (NOT (old.status IS DISTINCT FROM new.status)) AND (NOT app_public.current_user_is_admin()) AND ((old.status <> 'pending'::text) OR (old.rejection_reason IS NOT NULL)))) EXECUTE FUNCTION app_private.tg_products__back_to_pending();


--
-- Name: batches _200_guard_status; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _200_guard_status BEFORE UPDATE OF status ON app_public.batches FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION app_private.tg_batches__check_status();


--
-- Name: batch_items _200_guard_status_transition; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _200_guard_status_transition AFTER UPDATE ON app_public.batch_items FOR EACH ROW WHEN (((old.batch_id <> new.batch_id) OR (old.tenant_id <> new.tenant_id) OR ((old.status <> new.status) AND (NOT (((old.status = 'pending'::text) AND (new.status = ANY (ARRAY['processing'::text, 'cancelled'::text]))) OR ((old.status = 'processing'::text) AND (new.status = ANY (ARRAY['pending'::text, 'succeeded'::text, 'failed'::text, 'cancelled'::text]))) OR ((old.status = 'failed'::text) AND (new.status = 'pending'::text))))))) EXECUTE FUNCTION app_private.tg_batch_items__refuse_change();


--
-- Name: batches _300_follow_review_scoring; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _300_follow_review_scoring AFTER UPDATE OF status ON app_public.batches FOR EACH ROW WHEN (((new.kind = 'score_reviews'::text) AND (new.finished_at IS NOT NULL) AND (old.finished_at IS NULL))) EXECUTE FUNCTION app_private.tg_batches__follow_review_scoring();


--
-- Name: batch_items _500_count_deleted; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _500_count_deleted AFTER DELETE ON app_public.batch_items REFERENCING OLD TABLE AS old_items FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_batch_items__count_statuses();


--
-- Name: reviews _500_count_deleted; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _500_count_deleted AFTER DELETE ON app_public.reviews REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_reviews__count();


--
-- Name: batch_items _500_count_inserted; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _500_count_inserted AFTER INSERT ON app_public.batch_items REFERENCING NEW TABLE AS new_items FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_batch_items__count_statuses();


--
-- Name: reviews _500_count_inserted; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _500_count_inserted AFTER INSERT ON app_public.reviews REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_reviews__count();


--
-- Name: batch_items _500_count_updated; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _500_count_updated AFTER UPDATE ON app_public.batch_items REFERENCING OLD TABLE AS old_items NEW TABLE AS new_items FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_batch_items__count_statuses();


--
-- Name: reviews _500_count_updated; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _500_count_updated AFTER UPDATE ON app_public.reviews REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_reviews__count();


--
-- Name: products _500_note_recommender_change; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _500_note_recommender_change AFTER INSERT ON app_public.products REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_products__note_recommender_change();


--
-- Name: products _500_note_recommender_change_delete; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _500_note_recommender_change_delete AFTER DELETE ON app_public.products REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_products__note_recommender_change();


--
-- Name: products _500_note_recommender_change_update; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _500_note_recommender_change_update AFTER UPDATE ON app_public.products REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_products__note_recommender_change();


--
-- Name: batch_items _600_enqueue_inserted; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _600_enqueue_inserted AFTER INSERT ON app_public.batch_items REFERENCING NEW TABLE AS new_items FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_batch_items__enqueue_jobs();


--
-- Name: batch_items _600_enqueue_requeued; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE TRIGGER _600_enqueue_requeued AFTER UPDATE ON app_public.batch_items REFERENCING OLD TABLE AS old_items NEW TABLE AS new_items FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_batch_items__enqueue_jobs();


--
-- Name: batches _900_seal; Type: TRIGGER; Schema: app_public; Owner: -
--

CREATE CONSTRAINT TRIGGER _900_seal AFTER INSERT ON app_public.batches DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION app_private.tg_batches__seal();


--
-- Name: batch_counter_slots batch_counter_slots_batch_id_fkey; Type: FK CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.batch_counter_slots
    ADD CONSTRAINT batch_counter_slots_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES app_public.batches(id) ON DELETE CASCADE;


--
-- Name: batches_being_pruned batches_being_pruned_batch_id_fkey; Type: FK CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.batches_being_pruned
    ADD CONSTRAINT batches_being_pruned_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES app_public.batches(id) ON DELETE CASCADE;


--
-- Name: catalog_file_chunks catalog_file_chunks_file_id_fkey; Type: FK CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.catalog_file_chunks
    ADD CONSTRAINT catalog_file_chunks_file_id_fkey FOREIGN KEY (file_id) REFERENCES app_public.catalog_files(id) ON DELETE CASCADE;


--
-- Name: model_files model_files_model_version_id_fkey; Type: FK CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.model_files
    ADD CONSTRAINT model_files_model_version_id_fkey FOREIGN KEY (model_version_id) REFERENCES app_public.model_versions(id) ON DELETE CASCADE;


--
-- Name: recommender_changes recommender_changes_tenant_id_fkey; Type: FK CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.recommender_changes
    ADD CONSTRAINT recommender_changes_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app_public.tenants(id) ON DELETE CASCADE;


--
-- Name: recommender_inputs recommender_inputs_model_version_id_fkey; Type: FK CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.recommender_inputs
    ADD CONSTRAINT recommender_inputs_model_version_id_fkey FOREIGN KEY (model_version_id) REFERENCES app_public.model_versions(id);


--
-- Name: recommender_inputs recommender_inputs_tenant_id_fkey; Type: FK CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.recommender_inputs
    ADD CONSTRAINT recommender_inputs_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app_public.tenants(id) ON DELETE CASCADE;


--
-- Name: sign_in_codes sign_in_codes_tenant_id_fkey; Type: FK CONSTRAINT; Schema: app_private; Owner: -
--

ALTER TABLE ONLY app_private.sign_in_codes
    ADD CONSTRAINT sign_in_codes_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app_public.tenants(id) ON DELETE CASCADE;


--
-- Name: batches batches_kind_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.batches
    ADD CONSTRAINT batches_kind_fkey FOREIGN KEY (kind) REFERENCES app_public.batch_kinds(kind);


--
-- Name: CONSTRAINT batches_kind_fkey ON batches; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT batches_kind_fkey ON app_public.batches IS '@fieldName batchKind
@foreignFieldName batches';


--
-- Name: batches batches_tenant_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.batches
    ADD CONSTRAINT batches_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app_public.tenants(id) ON DELETE CASCADE;


--
-- Name: CONSTRAINT batches_tenant_id_fkey ON batches; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT batches_tenant_id_fkey ON app_public.batches IS '@fieldName tenant
@foreignFieldName batches';


--
-- Name: catalog_files catalog_files_tenant_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.catalog_files
    ADD CONSTRAINT catalog_files_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app_public.tenants(id) ON DELETE CASCADE;


--
-- Name: CONSTRAINT catalog_files_tenant_id_fkey ON catalog_files; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT catalog_files_tenant_id_fkey ON app_public.catalog_files IS '@fieldName tenant
@foreignFieldName catalogFiles';


--
-- Name: product_recommendations product_recommendations_model_version_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.product_recommendations
    ADD CONSTRAINT product_recommendations_model_version_id_fkey FOREIGN KEY (model_version_id) REFERENCES app_public.model_versions(id);


--
-- Name: CONSTRAINT product_recommendations_model_version_id_fkey ON product_recommendations; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT product_recommendations_model_version_id_fkey ON app_public.product_recommendations IS '@fieldName modelVersion
@behavior -manyRelation';


--
-- Name: product_recommendations product_recommendations_product_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.product_recommendations
    ADD CONSTRAINT product_recommendations_product_id_fkey FOREIGN KEY (product_id) REFERENCES app_public.products(id) ON DELETE CASCADE;


--
-- Name: CONSTRAINT product_recommendations_product_id_fkey ON product_recommendations; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT product_recommendations_product_id_fkey ON app_public.product_recommendations IS '@fieldName product
@foreignFieldName recommendations';


--
-- Name: products products_seller_id_tenant_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.products
    ADD CONSTRAINT products_seller_id_tenant_id_fkey FOREIGN KEY (seller_id, tenant_id) REFERENCES app_public.sellers(id, tenant_id) ON DELETE CASCADE;


--
-- Name: CONSTRAINT products_seller_id_tenant_id_fkey ON products; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT products_seller_id_tenant_id_fkey ON app_public.products IS '@isIndexed
@fieldName seller
@foreignFieldName products';


--
-- Name: review_scores review_scores_model_version_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.review_scores
    ADD CONSTRAINT review_scores_model_version_id_fkey FOREIGN KEY (model_version_id) REFERENCES app_public.model_versions(id);


--
-- Name: review_scores review_scores_review_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.review_scores
    ADD CONSTRAINT review_scores_review_id_fkey FOREIGN KEY (review_id) REFERENCES app_public.reviews(id) ON DELETE CASCADE;


--
-- Name: CONSTRAINT review_scores_review_id_fkey ON review_scores; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT review_scores_review_id_fkey ON app_public.review_scores IS '@fieldName review
@foreignFieldName score
@foreignSingleFieldName score';


--
-- Name: review_scores review_scores_tenant_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.review_scores
    ADD CONSTRAINT review_scores_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app_public.tenants(id) ON DELETE CASCADE;


--
-- Name: reviews reviews_product_id_tenant_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.reviews
    ADD CONSTRAINT reviews_product_id_tenant_id_fkey FOREIGN KEY (product_id, tenant_id) REFERENCES app_public.products(id, tenant_id) ON DELETE CASCADE;


--
-- Name: CONSTRAINT reviews_product_id_tenant_id_fkey ON reviews; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT reviews_product_id_tenant_id_fkey ON app_public.reviews IS '@isIndexed
@fieldName product
@foreignFieldName reviews';


--
-- Name: run_summaries run_summaries_batch_id_tenant_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.run_summaries
    ADD CONSTRAINT run_summaries_batch_id_tenant_id_fkey FOREIGN KEY (batch_id, tenant_id) REFERENCES app_public.batches(id, tenant_id) ON DELETE CASCADE;


--
-- Name: CONSTRAINT run_summaries_batch_id_tenant_id_fkey ON run_summaries; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT run_summaries_batch_id_tenant_id_fkey ON app_public.run_summaries IS '@isIndexed
@fieldName batch
@foreignFieldName runSummary
@foreignSingleFieldName runSummary';


--
-- Name: scraped_pages scraped_pages_batch_item_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.scraped_pages
    ADD CONSTRAINT scraped_pages_batch_item_id_fkey FOREIGN KEY (batch_item_id) REFERENCES app_public.batch_items(id) ON DELETE SET NULL;


--
-- Name: CONSTRAINT scraped_pages_batch_item_id_fkey ON scraped_pages; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT scraped_pages_batch_item_id_fkey ON app_public.scraped_pages IS '@fieldName batchItem
@foreignFieldName scrapedPages';


--
-- Name: scraped_pages scraped_pages_seller_id_tenant_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.scraped_pages
    ADD CONSTRAINT scraped_pages_seller_id_tenant_id_fkey FOREIGN KEY (seller_id, tenant_id) REFERENCES app_public.sellers(id, tenant_id) ON DELETE SET NULL (seller_id);


--
-- Name: CONSTRAINT scraped_pages_seller_id_tenant_id_fkey ON scraped_pages; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT scraped_pages_seller_id_tenant_id_fkey ON app_public.scraped_pages IS '@isIndexed
@fieldName seller
@foreignFieldName scrapedPages';


--
-- Name: scraped_pages scraped_pages_tenant_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.scraped_pages
    ADD CONSTRAINT scraped_pages_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app_public.tenants(id) ON DELETE CASCADE;


--
-- Name: CONSTRAINT scraped_pages_tenant_id_fkey ON scraped_pages; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT scraped_pages_tenant_id_fkey ON app_public.scraped_pages IS '@fieldName tenant
@foreignFieldName scrapedPages';


--
-- Name: seller_scores seller_scores_model_version_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.seller_scores
    ADD CONSTRAINT seller_scores_model_version_id_fkey FOREIGN KEY (model_version_id) REFERENCES app_public.model_versions(id);


--
-- Name: seller_scores seller_scores_seller_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.seller_scores
    ADD CONSTRAINT seller_scores_seller_id_fkey FOREIGN KEY (seller_id) REFERENCES app_public.sellers(id) ON DELETE CASCADE;


--
-- Name: CONSTRAINT seller_scores_seller_id_fkey ON seller_scores; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT seller_scores_seller_id_fkey ON app_public.seller_scores IS '@fieldName seller
@foreignFieldName score
@foreignSingleFieldName score';


--
-- Name: seller_scores seller_scores_tenant_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.seller_scores
    ADD CONSTRAINT seller_scores_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app_public.tenants(id) ON DELETE CASCADE;


--
-- Name: sellers sellers_tenant_id_fkey; Type: FK CONSTRAINT; Schema: app_public; Owner: -
--

ALTER TABLE ONLY app_public.sellers
    ADD CONSTRAINT sellers_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app_public.tenants(id) ON DELETE CASCADE;


--
-- Name: CONSTRAINT sellers_tenant_id_fkey ON sellers; Type: COMMENT; Schema: app_public; Owner: -
--

COMMENT ON CONSTRAINT sellers_tenant_id_fkey ON app_public.sellers IS '@fieldName tenant
@foreignFieldName sellers';


--
-- Name: batch_counter_slots; Type: ROW SECURITY; Schema: app_private; Owner: -
--

ALTER TABLE app_private.batch_counter_slots ENABLE ROW LEVEL SECURITY;

--
-- Name: batch_counter_slots select_visible_batch; Type: POLICY; Schema: app_private; Owner: -
--

CREATE POLICY select_visible_batch ON app_private.batch_counter_slots FOR SELECT USING ((EXISTS ( SELECT 1
   FROM app_public.batches b
  WHERE (b.id = batch_counter_slots.batch_id))));


--
-- Name: batch_items; Type: ROW SECURITY; Schema: app_public; Owner: -
--

ALTER TABLE app_public.batch_items ENABLE ROW LEVEL SECURITY;

--
-- Name: batches; Type: ROW SECURITY; Schema: app_public; Owner: -
--

ALTER TABLE app_public.batches ENABLE ROW LEVEL SECURITY;

--
-- Name: catalog_files; Type: ROW SECURITY; Schema: app_public; Owner: -
--

ALTER TABLE app_public.catalog_files ENABLE ROW LEVEL SECURITY;

--
-- Name: products delete_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY delete_own ON app_public.products FOR DELETE TO app_seller USING (((tenant_id = app_public.current_tenant_id()) AND (seller_id = app_public.current_seller_id())));


--
-- Name: reviews insert_as_author; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY insert_as_author ON app_public.reviews FOR INSERT TO app_seller, app_shopper WITH CHECK (((tenant_id = app_public.current_tenant_id()) AND (author = app_public.current_user_sub()) AND (EXISTS ( SELECT 1
   FROM app_public.products p
  WHERE ((p.id = reviews.product_id) AND (p.tenant_id = reviews.tenant_id) AND (p.status = 'approved'::text) AND (p.seller_id IS DISTINCT FROM app_public.current_seller_id()))))));


--
-- Name: batch_items insert_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY insert_own ON app_public.batch_items FOR INSERT WITH CHECK (app_private.caller_may_see(tenant_id));


--
-- Name: batches insert_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY insert_own ON app_public.batches FOR INSERT WITH CHECK (app_private.caller_may_see(tenant_id));


--
-- Name: products insert_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY insert_own ON app_public.products FOR INSERT TO app_seller WITH CHECK (((tenant_id = app_public.current_tenant_id()) AND (seller_id = app_public.current_seller_id()) AND (status = 'pending'::text) AND (rejection_reason IS NULL)));


--
-- Name: tenants manage_as_operator; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY manage_as_operator ON app_public.tenants TO app_admin USING (app_public.current_user_sees_all_tenants()) WITH CHECK (app_public.current_user_sees_all_tenants());


--
-- Name: product_recommendations; Type: ROW SECURITY; Schema: app_public; Owner: -
--

ALTER TABLE app_public.product_recommendations ENABLE ROW LEVEL SECURITY;

--
-- Name: products; Type: ROW SECURITY; Schema: app_public; Owner: -
--

ALTER TABLE app_public.products ENABLE ROW LEVEL SECURITY;

--
-- Name: products review_as_admin; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY review_as_admin ON app_public.products FOR UPDATE TO app_admin USING (app_private.caller_may_see(tenant_id)) WITH CHECK (app_private.caller_may_see(tenant_id));


--
-- Name: review_scores; Type: ROW SECURITY; Schema: app_public; Owner: -
--

ALTER TABLE app_public.review_scores ENABLE ROW LEVEL SECURITY;

--
-- Name: reviews; Type: ROW SECURITY; Schema: app_public; Owner: -
--

ALTER TABLE app_public.reviews ENABLE ROW LEVEL SECURITY;

--
-- Name: run_summaries; Type: ROW SECURITY; Schema: app_public; Owner: -
--

ALTER TABLE app_public.run_summaries ENABLE ROW LEVEL SECURITY;

--
-- Name: scraped_pages; Type: ROW SECURITY; Schema: app_public; Owner: -
--

ALTER TABLE app_public.scraped_pages ENABLE ROW LEVEL SECURITY;

--
-- Name: sellers select_in_tenant; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_in_tenant ON app_public.sellers FOR SELECT TO app_seller, app_shopper USING ((tenant_id = app_public.current_tenant_id()));


--
-- Name: batch_items select_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_own ON app_public.batch_items FOR SELECT USING (app_private.caller_may_see(tenant_id));


--
-- Name: batches select_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_own ON app_public.batches FOR SELECT USING (app_private.caller_may_see(tenant_id));


--
-- Name: catalog_files select_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_own ON app_public.catalog_files FOR SELECT USING (app_private.caller_may_see(tenant_id));


--
-- Name: product_recommendations select_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_own ON app_public.product_recommendations FOR SELECT USING (app_private.caller_may_see(tenant_id));


--
-- Name: products select_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_own ON app_public.products FOR SELECT TO app_user, app_admin USING (app_private.caller_may_see(tenant_id));


--
-- Name: review_scores select_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_own ON app_public.review_scores FOR SELECT USING (app_private.caller_may_see(tenant_id));


--
-- Name: reviews select_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_own ON app_public.reviews FOR SELECT TO app_user, app_admin USING (app_private.caller_may_see(tenant_id));


--
-- Name: run_summaries select_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_own ON app_public.run_summaries FOR SELECT USING (app_private.caller_may_see(tenant_id));


--
-- Name: scraped_pages select_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_own ON app_public.scraped_pages FOR SELECT USING (app_private.caller_may_see(tenant_id));


--
-- Name: seller_scores select_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_own ON app_public.seller_scores FOR SELECT USING (app_private.caller_may_see(tenant_id));


--
-- Name: sellers select_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_own ON app_public.sellers FOR SELECT TO app_user, app_admin USING (app_private.caller_may_see(tenant_id));


--
-- Name: tenants select_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_own ON app_public.tenants FOR SELECT USING (app_private.caller_may_see(id));


--
-- Name: products select_visible; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_visible ON app_public.products FOR SELECT TO app_seller, app_shopper USING (((tenant_id = app_public.current_tenant_id()) AND ((status = 'approved'::text) OR (seller_id = app_public.current_seller_id()))));


--
-- Name: reviews select_visible; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY select_visible ON app_public.reviews FOR SELECT TO app_seller, app_shopper USING (((tenant_id = app_public.current_tenant_id()) AND (EXISTS ( SELECT 1
   FROM app_public.products p
  WHERE (p.id = reviews.product_id)))));


--
-- Name: seller_scores; Type: ROW SECURITY; Schema: app_public; Owner: -
--

ALTER TABLE app_public.seller_scores ENABLE ROW LEVEL SECURITY;

--
-- Name: sellers; Type: ROW SECURITY; Schema: app_public; Owner: -
--

ALTER TABLE app_public.sellers ENABLE ROW LEVEL SECURITY;

--
-- Name: tenants; Type: ROW SECURITY; Schema: app_public; Owner: -
--

ALTER TABLE app_public.tenants ENABLE ROW LEVEL SECURITY;

--
-- Name: products update_own; Type: POLICY; Schema: app_public; Owner: -
--

CREATE POLICY update_own ON app_public.products FOR UPDATE TO app_seller USING (((tenant_id = app_public.current_tenant_id()) AND (seller_id = app_public.current_seller_id()))) WITH CHECK (((tenant_id = app_public.current_tenant_id()) AND (seller_id = app_public.current_seller_id())));


--
-- Name: SCHEMA app_private; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA app_private TO app_anonymous;
GRANT USAGE ON SCHEMA app_private TO app_user;
GRANT USAGE ON SCHEMA app_private TO app_admin;
GRANT USAGE ON SCHEMA app_private TO app_seller;
GRANT USAGE ON SCHEMA app_private TO app_shopper;


--
-- Name: SCHEMA app_public; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA app_public TO app_anonymous;
GRANT USAGE ON SCHEMA app_public TO app_user;
GRANT USAGE ON SCHEMA app_public TO app_admin;
GRANT USAGE ON SCHEMA app_public TO app_seller;
GRANT USAGE ON SCHEMA app_public TO app_shopper;


--
-- Name: TABLE run_summaries; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.run_summaries TO app_anonymous;
GRANT SELECT ON TABLE app_public.run_summaries TO app_user;
GRANT SELECT ON TABLE app_public.run_summaries TO app_admin;


--
-- Name: FUNCTION acquire_host_lease(p_host text, p_max_per_host integer, p_holder text, p_ttl interval); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.acquire_host_lease(p_host text, p_max_per_host integer, p_holder text, p_ttl interval) FROM PUBLIC;


--
-- Name: FUNCTION advance_items(p_worker_id text, p_batch_id uuid, p_claim_ids bigint[], p_outcomes jsonb); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.advance_items(p_worker_id text, p_batch_id uuid, p_claim_ids bigint[], p_outcomes jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_status_deltas(p_deltas app_private.status_delta[]); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.apply_status_deltas(p_deltas app_private.status_delta[]) FROM PUBLIC;


--
-- Name: FUNCTION batch_has_pending_item(p_batch_id uuid, p_due_only boolean); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.batch_has_pending_item(p_batch_id uuid, p_due_only boolean) FROM PUBLIC;


--
-- Name: FUNCTION batch_has_runnable_job(p_batch_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.batch_has_runnable_job(p_batch_id uuid) FROM PUBLIC;


--
-- Name: TABLE batch_counter_slots; Type: ACL; Schema: app_private; Owner: -
--

GRANT SELECT ON TABLE app_private.batch_counter_slots TO app_anonymous;
GRANT SELECT ON TABLE app_private.batch_counter_slots TO app_user;
GRANT SELECT ON TABLE app_private.batch_counter_slots TO app_admin;


--
-- Name: TABLE batch_counters; Type: ACL; Schema: app_private; Owner: -
--

GRANT SELECT ON TABLE app_private.batch_counters TO app_anonymous;
GRANT SELECT ON TABLE app_private.batch_counters TO app_user;
GRANT SELECT ON TABLE app_private.batch_counters TO app_admin;


--
-- Name: FUNCTION batch_status_for(c app_private.batch_counters, p_started boolean); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.batch_status_for(c app_private.batch_counters, p_started boolean) FROM PUBLIC;


--
-- Name: FUNCTION batch_stuck_reason(p_batch_id uuid, p_pending_items integer, p_processing_items integer, p_updated_at timestamp with time zone, p_finished_at timestamp with time zone); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.batch_stuck_reason(p_batch_id uuid, p_pending_items integer, p_processing_items integer, p_updated_at timestamp with time zone, p_finished_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.batch_stuck_reason(p_batch_id uuid, p_pending_items integer, p_processing_items integer, p_updated_at timestamp with time zone, p_finished_at timestamp with time zone) TO app_anonymous;
GRANT ALL ON FUNCTION app_private.batch_stuck_reason(p_batch_id uuid, p_pending_items integer, p_processing_items integer, p_updated_at timestamp with time zone, p_finished_at timestamp with time zone) TO app_user;
GRANT ALL ON FUNCTION app_private.batch_stuck_reason(p_batch_id uuid, p_pending_items integer, p_processing_items integer, p_updated_at timestamp with time zone, p_finished_at timestamp with time zone) TO app_admin;


--
-- Name: FUNCTION caller_may_see(p_tenant_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.caller_may_see(p_tenant_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.caller_may_see(p_tenant_id uuid) TO app_anonymous;
GRANT ALL ON FUNCTION app_private.caller_may_see(p_tenant_id uuid) TO app_user;
GRANT ALL ON FUNCTION app_private.caller_may_see(p_tenant_id uuid) TO app_admin;
GRANT ALL ON FUNCTION app_private.caller_may_see(p_tenant_id uuid) TO app_seller;
GRANT ALL ON FUNCTION app_private.caller_may_see(p_tenant_id uuid) TO app_shopper;


--
-- Name: FUNCTION catalog_seller(p_tenant_id uuid, p_name text); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.catalog_seller(p_tenant_id uuid, p_name text) FROM PUBLIC;


--
-- Name: FUNCTION check_batch_counters(p_batch_id uuid, p_stale_after interval); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.check_batch_counters(p_batch_id uuid, p_stale_after interval) FROM PUBLIC;


--
-- Name: FUNCTION check_product(p_sku text, p_name text, p_description text, p_category text, p_price numeric, p_currency text, p_stock integer); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.check_product(p_sku text, p_name text, p_description text, p_category text, p_price numeric, p_currency text, p_stock integer) FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.check_product(p_sku text, p_name text, p_description text, p_category text, p_price numeric, p_currency text, p_stock integer) TO app_user;
GRANT ALL ON FUNCTION app_private.check_product(p_sku text, p_name text, p_description text, p_category text, p_price numeric, p_currency text, p_stock integer) TO app_admin;
GRANT ALL ON FUNCTION app_private.check_product(p_sku text, p_name text, p_description text, p_category text, p_price numeric, p_currency text, p_stock integer) TO app_seller;
GRANT ALL ON FUNCTION app_private.check_product(p_sku text, p_name text, p_description text, p_category text, p_price numeric, p_currency text, p_stock integer) TO app_shopper;


--
-- Name: FUNCTION chunk_priority(p_batch_priority smallint, p_position bigint); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.chunk_priority(p_batch_priority smallint, p_position bigint) FROM PUBLIC;


--
-- Name: FUNCTION consume_recommender_changes(p_changes_seen bigint[]); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.consume_recommender_changes(p_changes_seen bigint[]) FROM PUBLIC;


--
-- Name: FUNCTION cool_down_host(p_host text, p_for interval, p_reason text); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.cool_down_host(p_host text, p_for interval, p_reason text) FROM PUBLIC;


--
-- Name: FUNCTION counter_slot(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.counter_slot() FROM PUBLIC;


--
-- Name: FUNCTION create_catalog_staging(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.create_catalog_staging() FROM PUBLIC;


--
-- Name: FUNCTION worker_stale_after(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.worker_stale_after() FROM PUBLIC;


--
-- Name: FUNCTION dead_worker_ids(p_stale_after interval); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.dead_worker_ids(p_stale_after interval) FROM PUBLIC;


--
-- Name: FUNCTION defer_items(p_worker_id text, p_item_ids bigint[], p_run_after timestamp with time zone, p_reason text, p_attempt_counts boolean); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.defer_items(p_worker_id text, p_item_ids bigint[], p_run_after timestamp with time zone, p_reason text, p_attempt_counts boolean) FROM PUBLIC;


--
-- Name: FUNCTION earlier_items_unfinished(p_item_id bigint); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.earlier_items_unfinished(p_item_id bigint) FROM PUBLIC;


--
-- Name: FUNCTION enqueue_batch_summary(p_batch_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.enqueue_batch_summary(p_batch_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.enqueue_batch_summary(p_batch_id uuid) TO app_user;
GRANT ALL ON FUNCTION app_private.enqueue_batch_summary(p_batch_id uuid) TO app_admin;


--
-- Name: FUNCTION enqueue_items(p_items app_private.batch_item_ids[], p_run_at timestamp with time zone); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.enqueue_items(p_items app_private.batch_item_ids[], p_run_at timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION enqueue_review_scorer_training(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.enqueue_review_scorer_training() FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.enqueue_review_scorer_training() TO app_admin;


--
-- Name: FUNCTION finalize_batch(p_batch_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.finalize_batch(p_batch_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION current_tenant_id(); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.current_tenant_id() FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.current_tenant_id() TO app_anonymous;
GRANT ALL ON FUNCTION app_public.current_tenant_id() TO app_user;
GRANT ALL ON FUNCTION app_public.current_tenant_id() TO app_admin;
GRANT ALL ON FUNCTION app_public.current_tenant_id() TO app_seller;
GRANT ALL ON FUNCTION app_public.current_tenant_id() TO app_shopper;


--
-- Name: TABLE batches; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.batches TO app_anonymous;
GRANT SELECT ON TABLE app_public.batches TO app_user;
GRANT SELECT ON TABLE app_public.batches TO app_admin;


--
-- Name: COLUMN batches.tenant_id; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(tenant_id) ON TABLE app_public.batches TO app_user;
GRANT INSERT(tenant_id) ON TABLE app_public.batches TO app_admin;


--
-- Name: COLUMN batches.kind; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(kind) ON TABLE app_public.batches TO app_user;
GRANT INSERT(kind) ON TABLE app_public.batches TO app_admin;


--
-- Name: COLUMN batches.metadata; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(metadata) ON TABLE app_public.batches TO app_user;
GRANT INSERT(metadata) ON TABLE app_public.batches TO app_admin;


--
-- Name: COLUMN batches.idempotency_key; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(idempotency_key) ON TABLE app_public.batches TO app_user;
GRANT INSERT(idempotency_key) ON TABLE app_public.batches TO app_admin;


--
-- Name: COLUMN batches.request_fingerprint; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(request_fingerprint) ON TABLE app_public.batches TO app_user;
GRANT INSERT(request_fingerprint) ON TABLE app_public.batches TO app_admin;


--
-- Name: COLUMN batches.priority; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(priority) ON TABLE app_public.batches TO app_user;
GRANT INSERT(priority) ON TABLE app_public.batches TO app_admin;


--
-- Name: FUNCTION find_batch(p_batch_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.find_batch(p_batch_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.find_batch(p_batch_id uuid) TO app_user;
GRANT ALL ON FUNCTION app_private.find_batch(p_batch_id uuid) TO app_admin;


--
-- Name: FUNCTION uuid_v7(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.uuid_v7() FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.uuid_v7() TO app_user;
GRANT ALL ON FUNCTION app_private.uuid_v7() TO app_admin;
GRANT ALL ON FUNCTION app_private.uuid_v7() TO app_seller;
GRANT ALL ON FUNCTION app_private.uuid_v7() TO app_shopper;


--
-- Name: TABLE products; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.products TO app_anonymous;
GRANT SELECT ON TABLE app_public.products TO app_user;
GRANT SELECT ON TABLE app_public.products TO app_admin;
GRANT SELECT,DELETE ON TABLE app_public.products TO app_seller;
GRANT SELECT ON TABLE app_public.products TO app_shopper;


--
-- Name: COLUMN products.seller_id; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(seller_id) ON TABLE app_public.products TO app_seller;


--
-- Name: COLUMN products.sku; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(sku),UPDATE(sku) ON TABLE app_public.products TO app_seller;


--
-- Name: COLUMN products.name; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(name),UPDATE(name) ON TABLE app_public.products TO app_seller;


--
-- Name: COLUMN products.description; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(description),UPDATE(description) ON TABLE app_public.products TO app_seller;


--
-- Name: COLUMN products.category; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(category),UPDATE(category) ON TABLE app_public.products TO app_seller;


--
-- Name: COLUMN products.price; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(price),UPDATE(price) ON TABLE app_public.products TO app_seller;


--
-- Name: COLUMN products.currency; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(currency),UPDATE(currency) ON TABLE app_public.products TO app_seller;


--
-- Name: COLUMN products.stock; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(stock),UPDATE(stock) ON TABLE app_public.products TO app_seller;


--
-- Name: COLUMN products.status; Type: ACL; Schema: app_public; Owner: -
--

GRANT UPDATE(status) ON TABLE app_public.products TO app_admin;


--
-- Name: COLUMN products.rejection_reason; Type: ACL; Schema: app_public; Owner: -
--

GRANT UPDATE(rejection_reason) ON TABLE app_public.products TO app_admin;


--
-- Name: FUNCTION find_own_product(p_product_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.find_own_product(p_product_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.find_own_product(p_product_id uuid) TO app_user;
GRANT ALL ON FUNCTION app_private.find_own_product(p_product_id uuid) TO app_admin;
GRANT ALL ON FUNCTION app_private.find_own_product(p_product_id uuid) TO app_seller;
GRANT ALL ON FUNCTION app_private.find_own_product(p_product_id uuid) TO app_shopper;


--
-- Name: FUNCTION find_product(p_product_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.find_product(p_product_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.find_product(p_product_id uuid) TO app_user;
GRANT ALL ON FUNCTION app_private.find_product(p_product_id uuid) TO app_admin;
GRANT ALL ON FUNCTION app_private.find_product(p_product_id uuid) TO app_seller;
GRANT ALL ON FUNCTION app_private.find_product(p_product_id uuid) TO app_shopper;


--
-- Name: FUNCTION finish_catalog_upload(p_file_id uuid, p_size_bytes bigint, p_sha256 text); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.finish_catalog_upload(p_file_id uuid, p_size_bytes bigint, p_sha256 text) FROM PUBLIC;


--
-- Name: FUNCTION finish_items(p_worker_id text, p_outcomes jsonb, OUT recorded integer, OUT batch_to_finalize uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.finish_items(p_worker_id text, p_outcomes jsonb, OUT recorded integer, OUT batch_to_finalize uuid) FROM PUBLIC;


--
-- Name: FUNCTION forget_worker(p_worker_id text); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.forget_worker(p_worker_id text) FROM PUBLIC;


--
-- Name: FUNCTION held_item_ids(p_worker_id text); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.held_item_ids(p_worker_id text) FROM PUBLIC;


--
-- Name: FUNCTION lock_catalog_seller(p_seller_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.lock_catalog_seller(p_seller_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION max_catalog_file_bytes(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.max_catalog_file_bytes() FROM PUBLIC;


--
-- Name: FUNCTION merge_catalog_chunk(p_tenant_id uuid, p_seller_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.merge_catalog_chunk(p_tenant_id uuid, p_seller_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION merge_catalog_staging(p_tenant_id uuid, p_seller_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.merge_catalog_staging(p_tenant_id uuid, p_seller_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION notify_batch_progress(p_tenant_id uuid, p_batch_id uuid, p_status text, p_done integer); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.notify_batch_progress(p_tenant_id uuid, p_batch_id uuid, p_status text, p_done integer) FROM PUBLIC;


--
-- Name: FUNCTION price_band(p_price numeric); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.price_band(p_price numeric) FROM PUBLIC;


--
-- Name: FUNCTION recent_sweeper_repairs_seen_by_caller(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.recent_sweeper_repairs_seen_by_caller() FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.recent_sweeper_repairs_seen_by_caller() TO app_admin;


--
-- Name: FUNCTION recommender_content_key(p_name text, p_category text, p_description text, p_price numeric); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.recommender_content_key(p_name text, p_category text, p_description text, p_price numeric) FROM PUBLIC;


--
-- Name: FUNCTION recommender_lists_containing(p_product_ids uuid[]); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.recommender_lists_containing(p_product_ids uuid[]) FROM PUBLIC;


--
-- Name: FUNCTION recommender_product_texts(p_product_ids uuid[]); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.recommender_product_texts(p_product_ids uuid[]) FROM PUBLIC;


--
-- Name: FUNCTION recommender_products(p_tenant_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.recommender_products(p_tenant_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION recommender_removed_products(p_tenant_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.recommender_removed_products(p_tenant_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION record_review_scores(p_model_version_id uuid, p_review_ids uuid[], p_scores real[]); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.record_review_scores(p_model_version_id uuid, p_review_ids uuid[], p_scores real[]) FROM PUBLIC;


--
-- Name: FUNCTION record_scraped_page(p_item_id bigint, p_page jsonb, p_products jsonb); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.record_scraped_page(p_item_id bigint, p_page jsonb, p_products jsonb) FROM PUBLIC;


--
-- Name: FUNCTION record_seller_scores(p_model_version_id uuid, p_seller_ids uuid[], p_scores real[], p_confidences real[], p_product_counts integer[], p_review_counts integer[]); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.record_seller_scores(p_model_version_id uuid, p_seller_ids uuid[], p_scores real[], p_confidences real[], p_product_counts integer[], p_review_counts integer[]) FROM PUBLIC;


--
-- Name: FUNCTION record_worker_heartbeat(p_worker_id text, p_hostname text, p_pid integer, p_concurrency integer, p_running_job_ids bigint[], OUT dead_workers integer, OUT lost_jobs integer); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.record_worker_heartbeat(p_worker_id text, p_hostname text, p_pid integer, p_concurrency integer, p_running_job_ids bigint[], OUT dead_workers integer, OUT lost_jobs integer) FROM PUBLIC;


--
-- Name: FUNCTION redeem_sign_in_code(p_code text); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.redeem_sign_in_code(p_code text) FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.redeem_sign_in_code(p_code text) TO app_anonymous;
GRANT ALL ON FUNCTION app_private.redeem_sign_in_code(p_code text) TO app_user;
GRANT ALL ON FUNCTION app_private.redeem_sign_in_code(p_code text) TO app_admin;
GRANT ALL ON FUNCTION app_private.redeem_sign_in_code(p_code text) TO app_seller;
GRANT ALL ON FUNCTION app_private.redeem_sign_in_code(p_code text) TO app_shopper;


--
-- Name: FUNCTION release_dead_workers(p_stale_after interval, p_holders text[]); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.release_dead_workers(p_stale_after interval, p_holders text[]) FROM PUBLIC;


--
-- Name: FUNCTION release_host_lease(p_host text, p_slot integer, p_holder text); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.release_host_lease(p_host text, p_slot integer, p_holder text) FROM PUBLIC;


--
-- Name: FUNCTION release_items(p_worker_id text, p_item_ids bigint[], p_reason text, p_attempt_counts boolean); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.release_items(p_worker_id text, p_item_ids bigint[], p_reason text, p_attempt_counts boolean) FROM PUBLIC;


--
-- Name: FUNCTION release_items_of_dead_worker(p_worker_id text, p_item_ids bigint[]); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.release_items_of_dead_worker(p_worker_id text, p_item_ids bigint[]) FROM PUBLIC;


--
-- Name: FUNCTION require_admin(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.require_admin() FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.require_admin() TO app_user;
GRANT ALL ON FUNCTION app_private.require_admin() TO app_admin;
GRANT ALL ON FUNCTION app_private.require_admin() TO app_seller;
GRANT ALL ON FUNCTION app_private.require_admin() TO app_shopper;


--
-- Name: FUNCTION require_seller(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.require_seller() FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.require_seller() TO app_user;
GRANT ALL ON FUNCTION app_private.require_seller() TO app_admin;
GRANT ALL ON FUNCTION app_private.require_seller() TO app_seller;
GRANT ALL ON FUNCTION app_private.require_seller() TO app_shopper;


--
-- Name: FUNCTION require_tenant_id(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.require_tenant_id() FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.require_tenant_id() TO app_user;
GRANT ALL ON FUNCTION app_private.require_tenant_id() TO app_admin;


--
-- Name: FUNCTION retry_at(p_batch_id uuid, p_failed_attempt integer); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.retry_at(p_batch_id uuid, p_failed_attempt integer) FROM PUBLIC;


--
-- Name: FUNCTION return_lost_jobs(p_worker_id text, p_running_job_ids bigint[]); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.return_lost_jobs(p_worker_id text, p_running_job_ids bigint[]) FROM PUBLIC;


--
-- Name: FUNCTION review_body_key(p_body text); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.review_body_key(p_body text) FROM PUBLIC;


--
-- Name: FUNCTION review_features(p_review_ids uuid[]); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.review_features(p_review_ids uuid[]) FROM PUBLIC;


--
-- Name: FUNCTION reviews_due(p_tenant_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.reviews_due(p_tenant_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.reviews_due(p_tenant_id uuid) TO app_admin;


--
-- Name: FUNCTION schedule_retrain(p_run_at timestamp with time zone); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.schedule_retrain(p_run_at timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION seller_graph(p_seller_ids uuid[]); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.seller_graph(p_seller_ids uuid[]) FROM PUBLIC;


--
-- Name: FUNCTION settle_batch(p_batch_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.settle_batch(p_batch_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION settle_batch_if_alone(p_batch_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.settle_batch_if_alone(p_batch_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION start_items(p_batch_id uuid, p_item_ids bigint[], p_worker_id text); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.start_items(p_batch_id uuid, p_item_ids bigint[], p_worker_id text) FROM PUBLIC;


--
-- Name: FUNCTION start_review_scoring(p_tenant_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.start_review_scoring(p_tenant_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.start_review_scoring(p_tenant_id uuid) TO app_admin;


--
-- Name: FUNCTION start_scoring_run(p_tenant_id uuid, p_kind text, p_ids uuid[], p_chunk integer); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.start_scoring_run(p_tenant_id uuid, p_kind text, p_ids uuid[], p_chunk integer) FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.start_scoring_run(p_tenant_id uuid, p_kind text, p_ids uuid[], p_chunk integer) TO app_admin;


--
-- Name: FUNCTION start_seller_scoring(p_tenant_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.start_seller_scoring(p_tenant_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.start_seller_scoring(p_tenant_id uuid) TO app_admin;


--
-- Name: TABLE model_versions; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.model_versions TO app_user;
GRANT SELECT ON TABLE app_public.model_versions TO app_admin;


--
-- Name: FUNCTION store_model_version(p_kind text, p_onnx bytea, p_training_rows integer, p_metrics jsonb, p_activate boolean); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.store_model_version(p_kind text, p_onnx bytea, p_training_rows integer, p_metrics jsonb, p_activate boolean) FROM PUBLIC;


--
-- Name: FUNCTION store_recommendations(p_onnx bytea, p_training_rows integer, p_metrics jsonb, p_changes_seen bigint[], p_removed uuid[], p_product_ids uuid[], p_tenant_ids uuid[], p_content_keys text[], p_kth_scores real[], p_list_product_ids uuid[], p_recommended_ids uuid[], p_scores real[]); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.store_recommendations(p_onnx bytea, p_training_rows integer, p_metrics jsonb, p_changes_seen bigint[], p_removed uuid[], p_product_ids uuid[], p_tenant_ids uuid[], p_content_keys text[], p_kth_scores real[], p_list_product_ids uuid[], p_recommended_ids uuid[], p_scores real[]) FROM PUBLIC;


--
-- Name: FUNCTION sweep_batches(p_stale_after interval, p_idle_after interval); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.sweep_batches(p_stale_after interval, p_idle_after interval) FROM PUBLIC;


--
-- Name: FUNCTION task_queues_seen_by_caller(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.task_queues_seen_by_caller() FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.task_queues_seen_by_caller() TO app_admin;


--
-- Name: FUNCTION tenant_queue_name(p_tenant_id uuid, p_max_running_chunks integer, p_position bigint); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tenant_queue_name(p_tenant_id uuid, p_max_running_chunks integer, p_position bigint) FROM PUBLIC;


--
-- Name: FUNCTION tg__fill_tenant_id_from_parent(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg__fill_tenant_id_from_parent() FROM PUBLIC;


--
-- Name: FUNCTION tg__touch_updated_at(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg__touch_updated_at() FROM PUBLIC;


--
-- Name: FUNCTION tg_batch_items__count_statuses(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_batch_items__count_statuses() FROM PUBLIC;


--
-- Name: FUNCTION tg_batch_items__enqueue_jobs(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_batch_items__enqueue_jobs() FROM PUBLIC;


--
-- Name: FUNCTION tg_batch_items__fill_tenant_id(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_batch_items__fill_tenant_id() FROM PUBLIC;


--
-- Name: FUNCTION tg_batch_items__refuse_change(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_batch_items__refuse_change() FROM PUBLIC;


--
-- Name: FUNCTION tg_batches__check_status(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_batches__check_status() FROM PUBLIC;


--
-- Name: FUNCTION tg_batches__create_counters(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_batches__create_counters() FROM PUBLIC;


--
-- Name: FUNCTION tg_batches__delete_items(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_batches__delete_items() FROM PUBLIC;


--
-- Name: FUNCTION tg_batches__follow_review_scoring(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_batches__follow_review_scoring() FROM PUBLIC;


--
-- Name: FUNCTION tg_batches__refuse_move(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_batches__refuse_move() FROM PUBLIC;


--
-- Name: FUNCTION tg_batches__refuse_new_status(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_batches__refuse_new_status() FROM PUBLIC;


--
-- Name: FUNCTION tg_batches__refuse_run_only_kinds(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_batches__refuse_run_only_kinds() FROM PUBLIC;


--
-- Name: FUNCTION tg_batches__seal(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_batches__seal() FROM PUBLIC;


--
-- Name: FUNCTION tg_products__back_to_pending(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_products__back_to_pending() FROM PUBLIC;


--
-- Name: FUNCTION tg_products__note_recommender_change(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_products__note_recommender_change() FROM PUBLIC;


--
-- Name: FUNCTION tg_recommender_changes__enqueue_retrain(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_recommender_changes__enqueue_retrain() FROM PUBLIC;


--
-- Name: FUNCTION tg_recommender_settings__move_queued_retrain(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_recommender_settings__move_queued_retrain() FROM PUBLIC;


--
-- Name: FUNCTION tg_reviews__count(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.tg_reviews__count() FROM PUBLIC;


--
-- Name: FUNCTION worker_holds_lock(p_worker_id text); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.worker_holds_lock(p_worker_id text) FROM PUBLIC;


--
-- Name: FUNCTION worker_is_alive(p_worker_id text); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.worker_is_alive(p_worker_id text) FROM PUBLIC;


--
-- Name: FUNCTION worker_lock_key(p_worker_id text); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.worker_lock_key(p_worker_id text) FROM PUBLIC;


--
-- Name: FUNCTION workers_seen_by_caller(); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.workers_seen_by_caller() FROM PUBLIC;
GRANT ALL ON FUNCTION app_private.workers_seen_by_caller() TO app_admin;


--
-- Name: FUNCTION write_run_summary(p_batch_id uuid); Type: ACL; Schema: app_private; Owner: -
--

REVOKE ALL ON FUNCTION app_private.write_run_summary(p_batch_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION approve_product(id uuid); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.approve_product(id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.approve_product(id uuid) TO app_user;
GRANT ALL ON FUNCTION app_public.approve_product(id uuid) TO app_admin;
GRANT ALL ON FUNCTION app_public.approve_product(id uuid) TO app_seller;
GRANT ALL ON FUNCTION app_public.approve_product(id uuid) TO app_shopper;


--
-- Name: TABLE batch_items; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.batch_items TO app_anonymous;
GRANT SELECT ON TABLE app_public.batch_items TO app_user;
GRANT SELECT ON TABLE app_public.batch_items TO app_admin;


--
-- Name: COLUMN batch_items.batch_id; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(batch_id) ON TABLE app_public.batch_items TO app_user;
GRANT INSERT(batch_id) ON TABLE app_public.batch_items TO app_admin;


--
-- Name: COLUMN batch_items.tenant_id; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(tenant_id) ON TABLE app_public.batch_items TO app_user;
GRANT INSERT(tenant_id) ON TABLE app_public.batch_items TO app_admin;


--
-- Name: COLUMN batch_items.payload; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(payload) ON TABLE app_public.batch_items TO app_user;
GRANT INSERT(payload) ON TABLE app_public.batch_items TO app_admin;


--
-- Name: FUNCTION batches_failed_items(batch app_public.batches, error_contains text); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.batches_failed_items(batch app_public.batches, error_contains text) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.batches_failed_items(batch app_public.batches, error_contains text) TO app_user;
GRANT ALL ON FUNCTION app_public.batches_failed_items(batch app_public.batches, error_contains text) TO app_admin;


--
-- Name: FUNCTION cancel_batch(batch_id uuid); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.cancel_batch(batch_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.cancel_batch(batch_id uuid) TO app_user;
GRANT ALL ON FUNCTION app_public.cancel_batch(batch_id uuid) TO app_admin;


--
-- Name: FUNCTION create_product(sku text, name text, price numeric, description text, category text, currency text, stock integer); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.create_product(sku text, name text, price numeric, description text, category text, currency text, stock integer) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.create_product(sku text, name text, price numeric, description text, category text, currency text, stock integer) TO app_user;
GRANT ALL ON FUNCTION app_public.create_product(sku text, name text, price numeric, description text, category text, currency text, stock integer) TO app_admin;
GRANT ALL ON FUNCTION app_public.create_product(sku text, name text, price numeric, description text, category text, currency text, stock integer) TO app_seller;
GRANT ALL ON FUNCTION app_public.create_product(sku text, name text, price numeric, description text, category text, currency text, stock integer) TO app_shopper;


--
-- Name: FUNCTION current_seller_id(); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.current_seller_id() FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.current_seller_id() TO app_anonymous;
GRANT ALL ON FUNCTION app_public.current_seller_id() TO app_user;
GRANT ALL ON FUNCTION app_public.current_seller_id() TO app_admin;
GRANT ALL ON FUNCTION app_public.current_seller_id() TO app_seller;
GRANT ALL ON FUNCTION app_public.current_seller_id() TO app_shopper;


--
-- Name: FUNCTION current_user_is_admin(); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.current_user_is_admin() FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.current_user_is_admin() TO app_anonymous;
GRANT ALL ON FUNCTION app_public.current_user_is_admin() TO app_user;
GRANT ALL ON FUNCTION app_public.current_user_is_admin() TO app_admin;
GRANT ALL ON FUNCTION app_public.current_user_is_admin() TO app_seller;
GRANT ALL ON FUNCTION app_public.current_user_is_admin() TO app_shopper;


--
-- Name: FUNCTION current_user_sees_all_tenants(); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.current_user_sees_all_tenants() FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.current_user_sees_all_tenants() TO app_anonymous;
GRANT ALL ON FUNCTION app_public.current_user_sees_all_tenants() TO app_user;
GRANT ALL ON FUNCTION app_public.current_user_sees_all_tenants() TO app_admin;
GRANT ALL ON FUNCTION app_public.current_user_sees_all_tenants() TO app_seller;
GRANT ALL ON FUNCTION app_public.current_user_sees_all_tenants() TO app_shopper;


--
-- Name: FUNCTION current_user_sub(); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.current_user_sub() FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.current_user_sub() TO app_anonymous;
GRANT ALL ON FUNCTION app_public.current_user_sub() TO app_user;
GRANT ALL ON FUNCTION app_public.current_user_sub() TO app_admin;
GRANT ALL ON FUNCTION app_public.current_user_sub() TO app_seller;
GRANT ALL ON FUNCTION app_public.current_user_sub() TO app_shopper;


--
-- Name: FUNCTION delete_product(id uuid); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.delete_product(id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.delete_product(id uuid) TO app_user;
GRANT ALL ON FUNCTION app_public.delete_product(id uuid) TO app_admin;
GRANT ALL ON FUNCTION app_public.delete_product(id uuid) TO app_seller;
GRANT ALL ON FUNCTION app_public.delete_product(id uuid) TO app_shopper;


--
-- Name: FUNCTION prune_finished_batches(older_than interval, batches_older_than interval, max_rows integer); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.prune_finished_batches(older_than interval, batches_older_than interval, max_rows integer) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.prune_finished_batches(older_than interval, batches_older_than interval, max_rows integer) TO app_admin;


--
-- Name: FUNCTION recommendations_for(product_id uuid, first integer); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.recommendations_for(product_id uuid, first integer) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.recommendations_for(product_id uuid, first integer) TO app_anonymous;
GRANT ALL ON FUNCTION app_public.recommendations_for(product_id uuid, first integer) TO app_user;
GRANT ALL ON FUNCTION app_public.recommendations_for(product_id uuid, first integer) TO app_admin;
GRANT ALL ON FUNCTION app_public.recommendations_for(product_id uuid, first integer) TO app_seller;
GRANT ALL ON FUNCTION app_public.recommendations_for(product_id uuid, first integer) TO app_shopper;


--
-- Name: FUNCTION recommended_products(product_id uuid); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.recommended_products(product_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.recommended_products(product_id uuid) TO app_anonymous;
GRANT ALL ON FUNCTION app_public.recommended_products(product_id uuid) TO app_user;
GRANT ALL ON FUNCTION app_public.recommended_products(product_id uuid) TO app_admin;
GRANT ALL ON FUNCTION app_public.recommended_products(product_id uuid) TO app_seller;
GRANT ALL ON FUNCTION app_public.recommended_products(product_id uuid) TO app_shopper;


--
-- Name: FUNCTION reject_product(id uuid, reason text); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.reject_product(id uuid, reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.reject_product(id uuid, reason text) TO app_user;
GRANT ALL ON FUNCTION app_public.reject_product(id uuid, reason text) TO app_admin;
GRANT ALL ON FUNCTION app_public.reject_product(id uuid, reason text) TO app_seller;
GRANT ALL ON FUNCTION app_public.reject_product(id uuid, reason text) TO app_shopper;


--
-- Name: FUNCTION request_batch_summary(batch_id uuid); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.request_batch_summary(batch_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.request_batch_summary(batch_id uuid) TO app_user;
GRANT ALL ON FUNCTION app_public.request_batch_summary(batch_id uuid) TO app_admin;


--
-- Name: FUNCTION retry_failed_items(batch_id uuid); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.retry_failed_items(batch_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.retry_failed_items(batch_id uuid) TO app_user;
GRANT ALL ON FUNCTION app_public.retry_failed_items(batch_id uuid) TO app_admin;


--
-- Name: FUNCTION search_batches(kind text, status text, tenant_id uuid, created_after timestamp with time zone, created_before timestamp with time zone); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.search_batches(kind text, status text, tenant_id uuid, created_after timestamp with time zone, created_before timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.search_batches(kind text, status text, tenant_id uuid, created_after timestamp with time zone, created_before timestamp with time zone) TO app_user;
GRANT ALL ON FUNCTION app_public.search_batches(kind text, status text, tenant_id uuid, created_after timestamp with time zone, created_before timestamp with time zone) TO app_admin;


--
-- Name: TABLE tenants; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.tenants TO app_anonymous;
GRANT SELECT ON TABLE app_public.tenants TO app_user;
GRANT SELECT,DELETE ON TABLE app_public.tenants TO app_admin;
GRANT SELECT ON TABLE app_public.tenants TO app_seller;
GRANT SELECT ON TABLE app_public.tenants TO app_shopper;


--
-- Name: COLUMN tenants.name; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(name),UPDATE(name) ON TABLE app_public.tenants TO app_admin;


--
-- Name: COLUMN tenants.max_running_chunks; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(max_running_chunks),UPDATE(max_running_chunks) ON TABLE app_public.tenants TO app_admin;


--
-- Name: FUNCTION set_tenant_limit(tenant_id uuid, max_running_chunks integer); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.set_tenant_limit(tenant_id uuid, max_running_chunks integer) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.set_tenant_limit(tenant_id uuid, max_running_chunks integer) TO app_admin;


--
-- Name: FUNCTION submit_batch(kind text, items jsonb, metadata jsonb, idempotency_key text, priority smallint); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.submit_batch(kind text, items jsonb, metadata jsonb, idempotency_key text, priority smallint) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.submit_batch(kind text, items jsonb, metadata jsonb, idempotency_key text, priority smallint) TO app_user;
GRANT ALL ON FUNCTION app_public.submit_batch(kind text, items jsonb, metadata jsonb, idempotency_key text, priority smallint) TO app_admin;


--
-- Name: FUNCTION trigger_all_scoring(); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.trigger_all_scoring() FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.trigger_all_scoring() TO app_user;
GRANT ALL ON FUNCTION app_public.trigger_all_scoring() TO app_admin;


--
-- Name: FUNCTION trigger_review_scorer_training(); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.trigger_review_scorer_training() FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.trigger_review_scorer_training() TO app_user;
GRANT ALL ON FUNCTION app_public.trigger_review_scorer_training() TO app_admin;


--
-- Name: FUNCTION trigger_review_scoring(); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.trigger_review_scoring() FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.trigger_review_scoring() TO app_user;
GRANT ALL ON FUNCTION app_public.trigger_review_scoring() TO app_admin;


--
-- Name: FUNCTION trigger_seller_scoring(); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.trigger_seller_scoring() FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.trigger_seller_scoring() TO app_user;
GRANT ALL ON FUNCTION app_public.trigger_seller_scoring() TO app_admin;


--
-- Name: FUNCTION update_product(id uuid, sku text, name text, description text, category text, price numeric, currency text, stock integer); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.update_product(id uuid, sku text, name text, description text, category text, price numeric, currency text, stock integer) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.update_product(id uuid, sku text, name text, description text, category text, price numeric, currency text, stock integer) TO app_user;
GRANT ALL ON FUNCTION app_public.update_product(id uuid, sku text, name text, description text, category text, price numeric, currency text, stock integer) TO app_admin;
GRANT ALL ON FUNCTION app_public.update_product(id uuid, sku text, name text, description text, category text, price numeric, currency text, stock integer) TO app_seller;
GRANT ALL ON FUNCTION app_public.update_product(id uuid, sku text, name text, description text, category text, price numeric, currency text, stock integer) TO app_shopper;


--
-- Name: TABLE catalog_files; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.catalog_files TO app_anonymous;
GRANT SELECT ON TABLE app_public.catalog_files TO app_user;
GRANT SELECT ON TABLE app_public.catalog_files TO app_admin;


--
-- Name: FUNCTION upload_catalog_file(filename text, content_base64 text); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.upload_catalog_file(filename text, content_base64 text) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.upload_catalog_file(filename text, content_base64 text) TO app_user;
GRANT ALL ON FUNCTION app_public.upload_catalog_file(filename text, content_base64 text) TO app_admin;


--
-- Name: TABLE reviews; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.reviews TO app_anonymous;
GRANT SELECT ON TABLE app_public.reviews TO app_user;
GRANT SELECT ON TABLE app_public.reviews TO app_admin;
GRANT SELECT ON TABLE app_public.reviews TO app_seller;
GRANT SELECT ON TABLE app_public.reviews TO app_shopper;


--
-- Name: COLUMN reviews.product_id; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(product_id) ON TABLE app_public.reviews TO app_seller;
GRANT INSERT(product_id) ON TABLE app_public.reviews TO app_shopper;


--
-- Name: COLUMN reviews.author; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(author) ON TABLE app_public.reviews TO app_seller;
GRANT INSERT(author) ON TABLE app_public.reviews TO app_shopper;


--
-- Name: COLUMN reviews.rating; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(rating) ON TABLE app_public.reviews TO app_seller;
GRANT INSERT(rating) ON TABLE app_public.reviews TO app_shopper;


--
-- Name: COLUMN reviews.title; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(title) ON TABLE app_public.reviews TO app_seller;
GRANT INSERT(title) ON TABLE app_public.reviews TO app_shopper;


--
-- Name: COLUMN reviews.body; Type: ACL; Schema: app_public; Owner: -
--

GRANT INSERT(body) ON TABLE app_public.reviews TO app_seller;
GRANT INSERT(body) ON TABLE app_public.reviews TO app_shopper;


--
-- Name: FUNCTION write_review(product_id uuid, rating integer, title text, body text); Type: ACL; Schema: app_public; Owner: -
--

REVOKE ALL ON FUNCTION app_public.write_review(product_id uuid, rating integer, title text, body text) FROM PUBLIC;
GRANT ALL ON FUNCTION app_public.write_review(product_id uuid, rating integer, title text, body text) TO app_user;
GRANT ALL ON FUNCTION app_public.write_review(product_id uuid, rating integer, title text, body text) TO app_admin;
GRANT ALL ON FUNCTION app_public.write_review(product_id uuid, rating integer, title text, body text) TO app_seller;
GRANT ALL ON FUNCTION app_public.write_review(product_id uuid, rating integer, title text, body text) TO app_shopper;


--
-- Name: TABLE scheduled_tasks; Type: ACL; Schema: app_private; Owner: -
--

GRANT SELECT ON TABLE app_private.scheduled_tasks TO app_admin;


--
-- Name: TABLE batch_kinds; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.batch_kinds TO app_anonymous;
GRANT SELECT ON TABLE app_public.batch_kinds TO app_user;
GRANT SELECT ON TABLE app_public.batch_kinds TO app_admin;


--
-- Name: TABLE batch_status_summary; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.batch_status_summary TO app_anonymous;
GRANT SELECT ON TABLE app_public.batch_status_summary TO app_user;
GRANT SELECT ON TABLE app_public.batch_status_summary TO app_admin;


--
-- Name: TABLE product_recommendations; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.product_recommendations TO app_anonymous;
GRANT SELECT ON TABLE app_public.product_recommendations TO app_user;
GRANT SELECT ON TABLE app_public.product_recommendations TO app_admin;
GRANT SELECT ON TABLE app_public.product_recommendations TO app_seller;
GRANT SELECT ON TABLE app_public.product_recommendations TO app_shopper;


--
-- Name: TABLE recent_sweeper_repairs; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.recent_sweeper_repairs TO app_admin;


--
-- Name: TABLE review_scores; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.review_scores TO app_anonymous;
GRANT SELECT ON TABLE app_public.review_scores TO app_user;
GRANT SELECT ON TABLE app_public.review_scores TO app_admin;


--
-- Name: TABLE scheduler_status; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.scheduler_status TO app_admin;


--
-- Name: TABLE scraped_pages; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.scraped_pages TO app_anonymous;
GRANT SELECT ON TABLE app_public.scraped_pages TO app_user;
GRANT SELECT ON TABLE app_public.scraped_pages TO app_admin;


--
-- Name: TABLE seller_scores; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.seller_scores TO app_anonymous;
GRANT SELECT ON TABLE app_public.seller_scores TO app_user;
GRANT SELECT ON TABLE app_public.seller_scores TO app_admin;


--
-- Name: TABLE sellers; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.sellers TO app_anonymous;
GRANT SELECT ON TABLE app_public.sellers TO app_user;
GRANT SELECT ON TABLE app_public.sellers TO app_admin;
GRANT SELECT ON TABLE app_public.sellers TO app_seller;
GRANT SELECT ON TABLE app_public.sellers TO app_shopper;


--
-- Name: TABLE task_queues; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.task_queues TO app_admin;


--
-- Name: TABLE workers; Type: ACL; Schema: app_public; Owner: -
--

GRANT SELECT ON TABLE app_public.workers TO app_admin;


--
-- PostgreSQL database dump complete
--



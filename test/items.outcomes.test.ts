// What a chunk's claim and outcomes do: the first claim starts the batch, taking the batch's row
// before a counter slot (no deadlock with a finisher); a claim retried after its answer was lost
// gets back what its worker holds; one statement records a worker's outcomes with its next claim;
// claims and outcomes rewrite items on their own pages; an error
// backs off, doubling up to the kind's ceiling, until the last attempt fails the item. Outcomes
// that PostgreSQL rolled back to break a deadlock are recorded again. When a chunk's outcomes
// cannot be recorded, its items must not stay `processing` with no job to run them: they go back
// to the queue (their attempt spent), and fail with the reason once their attempts are used up;
// the outcomes of other items recorded in the same statement are recorded once, on their own.
// Triggers of this test's database make recording fail for items whose payload has `fault` (and
// giving them back fail once), and roll the first outcome of one with `deadlock` back as a
// deadlock would.
import { beforeAll, expect, test } from 'vitest';
import { createTenant, startWorkerProcess, statusOf, submitBatch, useTestDatabase, waitFor, waitForSummary } from './helpers.ts';

const db = useTestDatabase();
let tenant: string;

beforeAll(async () => {
  tenant = await createTenant(db, 'outcomes-tenant');
  await db.pool.query(`
    create sequence public.test_release_faults;
    create function public.test_outcome_faults() returns trigger language plpgsql volatile as $$
    begin
      if new.status = 'succeeded' then
        raise exception 'injected fault: outcomes cannot be recorded';
      end if;
      -- A sequence, not a table: its count survives the rollback of the failing statement.
      if nextval('public.test_release_faults') = 1 then
        raise exception 'injected fault: items cannot be given back';
      end if;
      return new;
    end
    $$;
    create trigger _000_test_outcome_faults before update of status on app_public.batch_items
      for each row when (old.status = 'processing' and new.payload ? 'fault') execute function public.test_outcome_faults();
    create sequence public.test_deadlocks;
    create function public.test_outcome_deadlock() returns trigger language plpgsql volatile as $$
    begin
      if nextval('public.test_deadlocks') = 1 then
        raise exception 'injected deadlock' using errcode = 'deadlock_detected';
      end if;
      return new;
    end
    $$;
    create trigger _000_test_outcome_deadlock before update of status on app_public.batch_items
      for each row when (old.status = 'processing' and new.payload ? 'deadlock') execute function public.test_outcome_deadlock();
  `);
});

test('the first claim starts the batch: processing from then on, said on its progress channel', async () => {
  const batch = await submitBatch(db, tenant, 'noop', [{}, {}]);
  const { rows: items } = await db.pool.query<{ id: string }>('select id from app_public.batch_items where batch_id = $1 order by id', [batch.id]);
  const listener = await db.pool.connect();
  try {
    const { rows: [{ channel }] } = await listener.query<{ channel: string }>(`select 'batch_progress:' || md5($1 || ':' || $2) as channel`, [tenant, batch.id]);
    const told: string[] = [];
    listener.on('notification', (message) => told.push(message.payload ?? ''));
    await listener.query(`listen "${channel}"`);
    for (const [index, item] of items.entries()) {
      await db.pool.query(`select app_private.start_items($1, $2::bigint[], 'claiming-worker')`, [batch.id, [item.id]]);
      expect(await statusOf(db, batch.id)).toMatchObject({ status: 'processing', processing_items: index + 1 });
    }
    await waitFor(async () => told.length > 0, { what: 'the progress notification' });
    // The second claim found the batch started: it said nothing.
    expect(told).toEqual(['processing:0']);
    const { rows: [started] } = await db.pool.query('select started_at is not null as started from app_public.batches where id = $1', [batch.id]);
    expect(started).toEqual({ started: true });
    await db.pool.query(`select app_private.finish_items('claiming-worker', $1::jsonb)`, [JSON.stringify(items.map(({ id }) => ({ id })))]);
    expect(await statusOf(db, batch.id)).toMatchObject({ status: 'completed', succeeded_items: 2 });
  } finally {
    await listener.query('unlisten *');
    listener.release();
  }
});

test('a claim retried after its answer was lost gets back what it holds, attempt unchanged; others\' items are skipped', async () => {
  const batch = await submitBatch(db, tenant, 'noop', [{}, {}, {}, {}]);
  const { rows } = await db.pool.query<{ id: string }>('select id from app_public.batch_items where batch_id = $1 order by id', [batch.id]);
  const [first, second, third, fourth] = rows.map((row) => row.id);
  const claim = async (worker: string, ids: string[]) => (await db.pool.query<{ id: string; attempts: number }>(
    `select id, attempts from app_private.start_items($1, $2::bigint[], $3) order by id`, [batch.id, ids, worker])).rows;
  expect(await claim('lost-answer-worker', [first, second])).toEqual([{ id: first, attempts: 1 }, { id: second, attempts: 1 }]);
  expect(await claim('other-worker', [fourth])).toEqual([{ id: fourth, attempts: 1 }]);
  // The retry of the first claim, all of it held already; then a chunk where some ids are new,
  // one is held, one is another worker's.
  expect(await claim('lost-answer-worker', [first, second])).toEqual([{ id: first, attempts: 1 }, { id: second, attempts: 1 }]);
  expect(await claim('lost-answer-worker', [second, third, fourth])).toEqual([{ id: second, attempts: 1 }, { id: third, attempts: 1 }]);
  expect(await statusOf(db, batch.id)).toMatchObject({ status: 'processing', pending_items: 0, processing_items: 4 });
});

test('one statement records a worker\'s outcomes and claims its next items; the one that finishes the last item finalizes the batch', async () => {
  const batch = await submitBatch(db, tenant, 'noop', [{}, {}, {}, {}]);
  const { rows } = await db.pool.query<{ id: string }>('select id from app_public.batch_items where batch_id = $1 order by id', [batch.id]);
  const [first, second, third, fourth] = rows.map((row) => row.id);
  const step = async (worker: string, claim: string[], outcomes: Array<{ id: string; error?: string; permanent?: boolean; result?: object }>) => {
    // A row per claimed item, then one with no item, which counts the outcomes recorded.
    const { rows } = await db.pool.query<{ id: string | null; attempts: number | null; recorded: number | null }>(
      'select id, attempts, recorded from app_private.advance_items($1, $2, $3::bigint[], $4::jsonb)', [worker, batch.id, claim, JSON.stringify(outcomes)]);
    const last = rows.pop()!;
    expect(last.id).toBeNull();
    return { claimed: rows.map(({ id, attempts }) => ({ id, attempts })).sort((a, b) => Number(a.id) - Number(b.id)), recorded: last.recorded };
  };
  expect(await step('stepping-worker', [first, second], [])).toEqual({ claimed: [{ id: first, attempts: 1 }, { id: second, attempts: 1 }], recorded: 0 });
  expect(await step('other-worker', [fourth], [])).toEqual({ claimed: [{ id: fourth, attempts: 1 }], recorded: 0 });
  // The first item's outcome with the next claim, which names the item finished, one held already
  // (its answer lost) and one held by another worker: the held one is given back as it is, the
  // finished and the other's skipped.
  expect(await step('stepping-worker', [first, second, third, fourth], [{ id: first, result: { score: 1 } }]))
    .toEqual({ claimed: [{ id: second, attempts: 1 }, { id: third, attempts: 1 }], recorded: 1 });
  expect(await statusOf(db, batch.id)).toMatchObject({ status: 'processing', pending_items: 0, processing_items: 3, succeeded_items: 1 });
  // Outcomes of items the worker does not hold (the other worker's, one finished already) change nothing.
  expect(await step('stepping-worker', [], [{ id: fourth }, { id: first, error: 'late' }])).toEqual({ claimed: [], recorded: 0 });
  expect(await step('stepping-worker', [], [{ id: second, error: 'broken', permanent: true }, { id: third }])).toEqual({ claimed: [], recorded: 2 });
  expect(await statusOf(db, batch.id)).toMatchObject({ status: 'processing', processing_items: 1, succeeded_items: 2, failed_items: 1 });
  expect(await step('other-worker', [], [{ id: fourth }])).toEqual({ claimed: [], recorded: 1 });
  expect(await statusOf(db, batch.id)).toMatchObject({ status: 'completed_with_errors', succeeded_items: 3, failed_items: 1 });
  const { rows: items } = await db.pool.query('select status, result, last_error from app_public.batch_items where batch_id = $1 order by id', [batch.id]);
  expect(items).toEqual([
    { status: 'succeeded', result: { score: 1 }, last_error: null },
    { status: 'failed', result: null, last_error: 'broken' },
    { status: 'succeeded', result: null, last_error: null },
    { status: 'succeeded', result: null, last_error: null },
  ]);
  // Finalized by that statement's transaction: its summary is enqueued.
  const { rows: [summary] } = await db.pool.query(`select count(*)::integer as jobs from graphile_worker.jobs where key = 'aggregate_batch:' || $1`, [batch.id]);
  expect(summary).toEqual({ jobs: 1 });
});

test('a claim takes its batch\'s row before a counter slot: waiting for the row, it holds no slot a finisher could wait for', async () => {
  const batch = await submitBatch(db, tenant, 'noop', [{}, {}, {}]);
  const { rows } = await db.pool.query<{ id: string }>('select id from app_public.batch_items where batch_id = $1 order by id', [batch.id]);
  const finisher = await db.pool.connect();
  const claimer = await db.pool.connect();
  try {
    const { rows: [{ pid, slot }] } = await claimer.query<{ pid: number; slot: number }>('select pg_backend_pid() as pid, app_private.counter_slot() as slot');
    // A finisher holds the batch's row, as apply_status_deltas does, and the first claim waits for it.
    await finisher.query('begin');
    await finisher.query('select 1 from app_public.batches where id = $1 for share', [batch.id]);
    const claim = claimer.query<{ id: string }>('select id from app_private.start_items($1, $2::bigint[], $3)', [batch.id, rows.map((row) => row.id), 'lock-order-worker']);
    claim.catch(() => {}); // Awaited below, once the finisher has let go.
    await waitFor(async () => (await db.pool.query(`select wait_event_type = 'Lock' as waiting from pg_stat_activity where pid = $1`, [pid])).rows[0]?.waiting === true, { what: 'the claim to wait for the batch\'s row' });
    // The finisher then adds to the claimer's counter slot (two sessions may share one). Had the
    // claim taken it first, this would wait for the claim, which waits for the finisher: a deadlock.
    await finisher.query(`set local lock_timeout = '2s'`);
    await finisher.query(
      `insert into app_private.batch_counter_slots as s (batch_id, slot) values ($1, $2)
       on conflict (batch_id, slot) do update set updated_at = now()`, [batch.id, slot]);
    await finisher.query('rollback');
    expect((await claim).rows).toHaveLength(3);
  } finally {
    await finisher.query('rollback').catch(() => {});
    finisher.release();
    claimer.release();
  }
  expect(await statusOf(db, batch.id)).toMatchObject({ status: 'processing', processing_items: 3 });
});

test('a claim and its outcomes rewrite each item on its own page: no update adds an index entry', async () => {
  // Graphile Worker names a worker `worker-` and 18 hex digits; payloads and results as small as
  // most kinds'.
  const workerId = `worker-${'5e'.repeat(9)}`;
  const batch = await submitBatch(db, tenant, 'noop', Array.from({ length: 400 }, (_, index) => ({ url: `https://shop.example/products/${index}` })));
  const { rows } = await db.pool.query<{ id: string }>('select id from app_public.batch_items where batch_id = $1 order by id', [batch.id]);
  const client = await db.pool.connect();
  try {
    // The session's update counts around one statement (PostgreSQL 15's may still hold earlier
    // transactions' of this session). Each step commits before the next, as a worker's do.
    const counts = async () => (await client.query<{ updated: number; heap_only: number }>(
      `select pg_stat_get_xact_tuples_updated('app_public.batch_items'::regclass)::integer as updated,
         pg_stat_get_xact_tuples_hot_updated('app_public.batch_items'::regclass)::integer as heap_only`)).rows[0];
    const updatesOf = async (sql: string, params: unknown[]) => {
      await client.query('begin');
      const before = await counts();
      await client.query(sql, params);
      const after = await counts();
      await client.query('commit');
      return { updated: after.updated - before.updated, heap_only: after.heap_only - before.heap_only };
    };
    expect(await updatesOf('select app_private.start_items($1, $2::bigint[], $3)', [batch.id, rows.map((row) => row.id), workerId]))
      .toEqual({ updated: 400, heap_only: 400 });
    // The inserted rows can be pruned once no transaction of the server (of any database: another
    // test file's, an autovacuum's analyze) is older than the claim or holds an older snapshot.
    const { rows: [{ claim }] } = await client.query<{ claim: string }>('select xmin::text as claim from app_public.batch_items where id = $1', [rows[0].id]);
    await waitFor(async () => (await client.query<{ dead: boolean }>(
      `select not exists (select 1 from pg_stat_activity where pid <> pg_backend_pid()
         and (age(backend_xmin) >= age($1::xid) or age(backend_xid) >= age($1::xid))) as dead`, [claim])).rows[0].dead,
    { what: 'no transaction older than the claim', timeoutMs: 60_000 });
    const outcomes = rows.map(({ id }, index) => ({ id, error: null, result: { score: index / 400, label: 'ok' } }));
    expect(await updatesOf('select app_private.finish_items($1, $2::jsonb)', [workerId, JSON.stringify(outcomes)]))
      .toEqual({ updated: 400, heap_only: 400 });
  } finally {
    client.release();
  }
  expect(await statusOf(db, batch.id)).toMatchObject({ status: 'completed', succeeded_items: 400 });
});

test('an error backs off, doubling up to the ceiling; the last attempt, or a permanent error, fails the item', async () => {
  const client = await db.pool.connect();
  try {
    // One transaction, rolled back: now() is the same in every statement, so backoffs are exact.
    await client.query('begin');
    await client.query(`update app_public.batch_kinds set max_attempts = 4, retry_delay = '10 seconds', max_retry_delay = '25 seconds' where kind = 'noop'`);
    const { rows: [batch] } = await client.query<{ id: string }>(`insert into app_public.batches (tenant_id, kind) values ($1, 'noop') returning id`, [tenant]);
    // Items about to make their attempts 1 to 4, and one more whose error is permanent.
    const { rows: items } = await client.query<{ id: string }>(
      `insert into app_public.batch_items (batch_id, tenant_id, attempts) select $1, $2, a from unnest(array[0, 1, 2, 3, 0]) as a returning id`,
      [batch.id, tenant]);
    const ids = items.map((item) => item.id);
    await client.query(`select app_private.start_items($1, $2::bigint[], 'backoff-worker')`, [batch.id, ids]);
    const outcomes = ids.map((id, index) => ({ id, error: 'boom', result: null, permanent: index === 4 }));
    const { rows: [finished] } = await client.query(`select recorded from app_private.finish_items('backoff-worker', $1::jsonb)`, [JSON.stringify(outcomes)]);
    expect(finished).toEqual({ recorded: 5 });
    const { rows } = await client.query(
      `select status, attempts, extract(epoch from run_after - now())::integer as backoff_s, finished_at = now() as finished_now
       from app_public.batch_items where batch_id = $1 order by id`, [batch.id]);
    expect(rows).toEqual([
      { status: 'pending', attempts: 1, backoff_s: 10, finished_now: null },
      { status: 'pending', attempts: 2, backoff_s: 20, finished_now: null },
      { status: 'pending', attempts: 3, backoff_s: 25, finished_now: null },
      { status: 'failed', attempts: 4, backoff_s: null, finished_now: true },
      { status: 'failed', attempts: 1, backoff_s: null, finished_now: true },
    ]);
  } finally {
    await client.query('rollback');
    client.release();
  }
});

test('outcomes rolled back to break a deadlock are recorded on the next try, their attempt unspent', async () => {
  const worker = await startWorkerProcess(db);
  const batch = await submitBatch(db, tenant, 'noop', [{ deadlock: true }, {}]);
  expect(await waitForSummary(db, batch.id)).toMatchObject({ status: 'completed', succeeded_items: 2 });
  const { rows } = await db.pool.query('select attempts, last_error from app_public.batch_items where batch_id = $1 order by id', [batch.id]);
  expect(rows).toEqual([{ attempts: 1, last_error: null }, { attempts: 1, last_error: null }]);
  expect(worker.output()).toContain('rolled back by the database while recording outcomes');
  expect(await worker.stop()).toBe(0);
});

test('items whose outcomes cannot be recorded run again, then fail with the reason; the worker goes on', async () => {
  const worker = await startWorkerProcess(db);
  const batch = await submitBatch(db, tenant, 'noop', [{ fault: true }]);
  await waitForSummary(db, batch.id);
  const { rows: [item] } = await db.pool.query('select status, attempts, last_error from app_public.batch_items where batch_id = $1', [batch.id]);
  expect(item).toEqual({ status: 'failed', attempts: 3, last_error: 'its outcome could not be recorded: injected fault: outcomes cannot be recorded' });
  // Giving them back failed once, and was tried again.
  expect(worker.output()).toContain('could not give the items back');

  const next = await submitBatch(db, tenant, 'noop', [{}, {}]);
  expect(await waitForSummary(db, next.id)).toMatchObject({ status: 'completed', succeeded_items: 2 });
  expect(await worker.stop()).toBe(0);
});

test('with chunks of one item, an outcome that cannot be recorded costs the outcomes recorded with it nothing', async () => {
  // A worker's slots record their outcomes for one batch together: when the database refuses one
  // of them, each is recorded again on its own, and only that one is given back.
  const { rows: [kind] } = await db.pool.query<{ chunk_size: number }>(`select chunk_size from app_public.batch_kinds where kind = 'noop'`);
  await db.pool.query(`update app_public.batch_kinds set chunk_size = 1 where kind = 'noop'`);
  try {
    const worker = await startWorkerProcess(db, { concurrency: 10 });
    const batch = await submitBatch(db, tenant, 'noop', Array.from({ length: 300 }, (_, index) => (index === 150 ? { fault: true } : {})));
    await waitForSummary(db, batch.id);
    const { rows } = await db.pool.query(
      'select status, attempts, count(*)::int as items from app_public.batch_items where batch_id = $1 group by status, attempts order by status, attempts', [batch.id]);
    expect(rows).toEqual([{ status: 'failed', attempts: 3, items: 1 }, { status: 'succeeded', attempts: 1, items: 299 }]);
    expect(await worker.stop()).toBe(0);
  } finally {
    await db.pool.query(`update app_public.batch_kinds set chunk_size = $1 where kind = 'noop'`, [kind.chunk_size]);
  }
});

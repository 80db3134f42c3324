// A batch's run summary, its status, the sweeper's check of its counters, a catalog file's wait
// for the files before it and a stopping worker's search for its items read the batches' own
// items, however the rest of batch_items looks. Early in an installation's life a few large
// batches are most of the table, and PostgreSQL's statistics say so: a plan costed for the average
// batch then reads the whole table for a small one (a second or more, for a summary due within
// milliseconds, for a status a dashboard reads every few seconds, or for each of the sweeper's
// checks each minute).
import pg from 'pg';
import { beforeAll, expect, test } from 'vitest';
import { createTenant, submitBatch, useTestDatabase } from './helpers.ts';

const db = useTestDatabase();
let tenant: string;

beforeAll(async () => {
  tenant = await createTenant(db);
  // The large batch, never run (no worker runs in this file): 100,000 items in one transaction.
  await db.pool.query(`with large as (insert into app_public.batches (tenant_id, kind) values ($1, 'noop') returning id)
    insert into app_public.batch_items (batch_id, tenant_id, payload) select large.id, $1, '{}' from large, generate_series(1, 100000)`, [tenant]);
  // ANALYZE samples 300 rows, which, like its sample of a table of millions, sees the large batch
  // alone: the statistics of an installation of a few large batches, whatever the tests add.
  await db.pool.query('alter table app_public.batch_items alter column batch_id set statistics 1');
});

/**
 * Runs `read` in a transaction; how it scanned batch_items. On a connection of its own: one that
 * ran other statements shows their scans too for up to a second (a backend's statistics of past
 * transactions wait that long to be flushed, and pg_stat_xact_* counts them meanwhile).
 */
async function scansOf(read: (client: pg.Client) => Promise<void>): Promise<{ seq_scan: number; idx_scan: number }> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query('begin');
    await read(client);
    const { rows: [scans] } = await client.query(`select seq_scan::int, idx_scan::int from pg_stat_xact_user_tables where relid = 'app_public.batch_items'::regclass`);
    await client.query('commit');
    return scans;
  } finally {
    await client.end();
  }
}

test("a small batch's summary reads its own items by index while a large batch fills the table", async () => {
  const small = await submitBatch(db, tenant, 'fail', [{ message: 'no such page' }, {}, {}]);
  // Its items run by hand: one fails for good, two succeed.
  await db.pool.query(`update app_public.batch_items set status = 'processing', locked_by = 'w', attempts = 1 where batch_id = $1`, [small.id]);
  const { rows: items } = await db.pool.query(`select id from app_public.batch_items where batch_id = $1 order by id`, [small.id]);
  await db.pool.query(`select app_private.finish_items('w', $1::jsonb)`, [JSON.stringify(items.map((row, n) =>
    n === 0 ? { id: row.id, error: 'no such page', permanent: true } : { id: row.id, error: null, result: { pages: 1 } }))]);
  await db.pool.query('analyze app_public.batch_items');

  const scans = await scansOf(async (client) => {
    expect((await client.query('select app_private.write_run_summary($1) as written', [small.id])).rows).toEqual([{ written: true }]);
  });
  expect(scans.seq_scan).toBe(0);
  expect(scans.idx_scan).toBeGreaterThan(0);
  const { rows: [summary] } = await db.pool.query('select status, total_items, succeeded_items, failed_items, errors, stats from app_public.run_summaries where batch_id = $1', [small.id]);
  expect(summary).toEqual({
    status: 'completed_with_errors', total_items: 3, succeeded_items: 2, failed_items: 1,
    errors: [{ message: 'no such page', count: 1 }], stats: { pages: 2 },
  });
});

test("a queued batch's status reads its own items by index while a large batch fills the table", async () => {
  // Queued: its items pending and none running, with a worker alive (a fresh heartbeat), so that
  // stuck_reason looks at its items.
  const queued = await submitBatch(db, tenant, 'noop', [{}, {}]);
  await db.pool.query(`insert into app_private.workers (id, hostname, pid, concurrency) values ('alive', 'test', 1, 1)`);
  await db.pool.query('analyze app_public.batch_items');

  const scans = await scansOf(async (client) => {
    const { rows } = await client.query('select pending_items, processing_items, stuck_reason from app_public.batch_status_summary where batch_id = $1', [queued.id]);
    expect(rows).toEqual([{ pending_items: 2, processing_items: 0, stuck_reason: null }]);
  });
  expect(scans.seq_scan).toBe(0);
  expect(scans.idx_scan).toBeGreaterThan(0);
});

test("a catalog file's wait for the files given before it reads its batch's items by index while a large batch fills the table", async () => {
  const batch = await submitBatch(db, tenant, 'noop', [{}, {}]);
  const { rows: [, second] } = await db.pool.query(`select id from app_public.batch_items where batch_id = $1 order by id`, [batch.id]);
  await db.pool.query('analyze app_public.batch_items');

  const scans = await scansOf(async (client) => {
    expect((await client.query('select app_private.earlier_items_unfinished($1) as waits', [second.id])).rows).toEqual([{ waits: true }]);
  });
  expect(scans.seq_scan).toBe(0);
  expect(scans.idx_scan).toBeGreaterThan(0);
});

test("the sweeper's check of a small batch's counters reads its items by index while a large batch fills the table", async () => {
  const batch = await submitBatch(db, tenant, 'noop', [{}, {}, {}]);
  await db.pool.query('analyze app_public.batch_items');

  const scans = await scansOf(async (client) => {
    const { rows } = await client.query(`select counters_agree, total_items from app_private.check_batch_counters($1, '1 minute')`, [batch.id]);
    expect(rows).toEqual([{ counters_agree: true, total_items: 3 }]);
  });
  expect(scans.seq_scan).toBe(0);
  expect(scans.idx_scan).toBeGreaterThan(0);
});

test("a stopping worker's items are found by index among the unfinished batches, the large batch finished", async () => {
  await db.pool.query(`select app_public.cancel_batch(id) from app_public.batches where total_items = 100000`);
  const batch = await submitBatch(db, tenant, 'noop', [{}, {}, {}]);
  const { rows: items } = await db.pool.query<{ id: string }>(`select id from app_public.batch_items where batch_id = $1 order by id`, [batch.id]);
  await db.pool.query(`update app_public.batch_items set status = 'processing', locked_by = 'stopping', attempts = 1 where id = any($1::bigint[])`, [items.slice(0, 2).map((item) => item.id)]);
  await db.pool.query('analyze app_public.batch_items');

  const scans = await scansOf(async (client) => {
    const { rows } = await client.query(`select app_private.held_item_ids('stopping') as held`);
    expect(rows).toEqual([{ held: items.slice(0, 2).map((item) => item.id) }]);
  });
  expect(scans.seq_scan).toBe(0);
  expect(scans.idx_scan).toBeGreaterThan(0);
});

// Finished work is kept as long as the retention says: a pruned batch keeps its row, counts and
// summary; unfinished work and the catalog files it needs are never removed. (That a prune holds
// up no running batch is retention.latency.test.ts.)
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ageBatch,
  asRole,
  asTenant,
  createTenant,
  pruneNow,
  startWorkerProcess,
  statusOf,
  submitBatch,
  useTestDatabase,
  waitFor,
  waitForSummary,
  type WorkerProcess,
} from './helpers.ts';

const db = useTestDatabase();
let tenant: string;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  tenant = await createTenant(db);
});
afterAll(() => worker?.stop());

async function itemCount(batchId: string): Promise<number> {
  const { rows } = await db.pool.query('select count(*)::int as n from app_public.batch_items where batch_id = $1', [batchId]);
  return rows[0].n;
}

async function summaryOf(batchId: string) {
  const { rows } = await db.pool.query('select status, total_items, succeeded_items, failed_items, errors from app_public.run_summaries where batch_id = $1', [batchId]);
  return rows[0];
}

describe('a daily prune with the default retention (30 days for items)', () => {
  let old: { id: string };
  let recent: { id: string };
  let unfinished: { id: string };

  beforeAll(async () => {
    worker = await startWorkerProcess(db);
    old = await submitBatch(db, tenant, 'fail', [{ message: 'boom', fail_times: 1 }, { message: 'boom' }, { message: 'boom' }]);
    recent = await submitBatch(db, tenant, 'noop', [{}, {}, {}, {}]);
    // Runs for as long as the test: a batch that has not finished, however old.
    unfinished = await submitBatch(db, tenant, 'noop', [{ sleep_ms: 600_000 }, { sleep_ms: 600_000 }]);
    await waitForSummary(db, old.id);
    await waitForSummary(db, recent.id);
    await waitFor(async () => (await statusOf(db, unfinished.id)).processing_items === 2, { what: 'the unfinished batch to run' });
    await ageBatch(db, old.id, 40);
    await ageBatch(db, recent.id, 29);
    await ageBatch(db, unfinished.id, 400);
    await db.pool.query(`update app_public.batches set created_at = created_at - interval '400 days' where id = $1`, [unfinished.id]);
    await pruneNow(db);
  }, 60_000);

  test('a finished batch older than the retention loses its items and keeps its row, counts, status and summary', async () => {
    expect(await itemCount(old.id)).toBe(0);
    const status = await statusOf(db, old.id);
    expect(status).toMatchObject({
      status: 'completed_with_errors', total_items: 3, succeeded_items: 1, failed_items: 2, progress: '1.0000',
      has_summary: true, stuck_reason: null,
    });
    expect((status as unknown as { items_pruned_at: Date | null }).items_pruned_at).toBeInstanceOf(Date);
    expect(await summaryOf(old.id)).toMatchObject({
      status: 'completed_with_errors', total_items: 3, succeeded_items: 1, failed_items: 2, errors: [{ message: 'boom', count: 2 }],
    });
    // The tenant sees the same through its own eyes (row level security, the view it reads).
    const seen = await asTenant(db, tenant, async (client) =>
      (await client.query('select status, failed_items, items_pruned_at is not null as pruned from app_public.batch_status_summary where batch_id = $1', [old.id])).rows);
    expect(seen).toEqual([{ status: 'completed_with_errors', failed_items: 2, pruned: true }]);
  });

  test('a batch finished within the retention, and an unfinished batch however old, keep everything', async () => {
    expect(await itemCount(recent.id)).toBe(4);
    expect(await statusOf(db, recent.id)).toMatchObject({ status: 'completed', succeeded_items: 4 });
    expect(await itemCount(unfinished.id)).toBe(2);
    expect(await statusOf(db, unfinished.id)).toMatchObject({ status: 'processing', processing_items: 2 });
    const { rows } = await db.pool.query('select items_pruned_at from app_public.batches where id = any($1)', [[recent.id, unfinished.id]]);
    expect(rows).toEqual([{ items_pruned_at: null }, { items_pruned_at: null }]);
  });

  test('retrying the failed items of a pruned batch answers FLPRN, and changes nothing', async () => {
    const attempt = await asTenant(db, tenant, (client) => client.query('select app_public.retry_failed_items($1)', [old.id]))
      .then(() => null, (error: { code?: string }) => error.code);
    expect(attempt).toBe('FLPRN');
    expect(await statusOf(db, old.id)).toMatchObject({ status: 'completed_with_errors', failed_items: 2 });
  });

  test('the items of an unfinished batch cannot be deleted behind its back (FLUNF)', async () => {
    const attempt = await db.pool.query('delete from app_public.batch_items where batch_id = $1', [unfinished.id])
      .then(() => null, (error: { code?: string }) => error.code);
    expect(attempt).toBe('FLUNF');
    expect(await itemCount(unfinished.id)).toBe(2);
  });

  test('the sweeper leaves the counts of a batch pruned within the hour alone', async () => {
    const fresh = await submitBatch(db, tenant, 'noop', [{}, {}]);
    await waitForSummary(db, fresh.id);
    await db.pool.query(`select * from app_public.prune_finished_batches('0 seconds')`);
    expect(await itemCount(fresh.id)).toBe(0);
    await db.pool.query('select app_private.sweep_batches()');
    expect(await statusOf(db, fresh.id)).toMatchObject({ status: 'completed', total_items: 2, succeeded_items: 2 });
    const { rows } = await db.pool.query('select 1 from app_private.sweeper_repairs where batch_id = $1', [fresh.id]);
    expect(rows).toEqual([]);
  });

  test('a batch past BATCH_RETENTION_DAYS goes, with its summary; a tenant admin may not prune', async () => {
    await ageBatch(db, old.id, 400);
    const { rows } = await db.pool.query(`select * from app_public.prune_finished_batches('30 days', '365 days')`);
    expect(rows[0]).toMatchObject({ batches: '1', run_summaries: '1', more: false });
    expect((await db.pool.query('select 1 from app_public.batches where id = $1', [old.id])).rows).toEqual([]);
    expect(await itemCount(unfinished.id)).toBe(2);
    const refused = await asRole(db, 'app_admin', { tenant_id: tenant }, (client) => client.query(`select * from app_public.prune_finished_batches('0 seconds')`))
      .then(() => null, (error: { code?: string }) => error.code);
    expect(refused).toBe('FLADM');
  });

  afterAll(() => db.pool.query('select app_public.cancel_batch($1)', [unfinished.id]));
});

describe('catalog files', () => {
  /** Uploads a file as the tenant; returns its id. */
  async function upload(name: string, content: string): Promise<string> {
    return asTenant(db, tenant, async (client) =>
      (await client.query('select id from app_public.upload_catalog_file($1, $2)', [name, Buffer.from(content).toString('base64')])).rows[0].id);
  }

  /** An import batch naming the file, finished `finishedDaysAgo` ago, or still pending when null. */
  async function importBatch(fileId: string, finishedDaysAgo: number | null): Promise<string> {
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      const { rows } = await client.query(`insert into app_public.batches (tenant_id, kind) values ($1, 'import_catalog') returning id`, [tenant]);
      const finished = finishedDaysAgo !== null;
      await client.query(
        `insert into app_public.batch_items (batch_id, tenant_id, payload, status, attempts, finished_at)
         values ($1, $2, jsonb_build_object('file_id', $3::text), $4, $5, case when $4 = 'succeeded' then now() end)`,
        [rows[0].id, tenant, fileId, finished ? 'succeeded' : 'pending', finished ? 1 : 0]);
      await client.query('commit');
      if (finished) {
        await db.pool.query('select app_private.write_run_summary($1)', [rows[0].id]);
        await ageBatch(db, rows[0].id, finishedDaysAgo);
      }
      return rows[0].id;
    } finally {
      client.release();
    }
  }

  async function chunks(fileId: string): Promise<number> {
    return (await db.pool.query('select count(*)::int as n from app_private.catalog_file_chunks where file_id = $1', [fileId])).rows[0].n;
  }

  test('a file imported long ago loses its content; one an unfinished or a recent import names is kept', async () => {
    await worker?.stop();
    worker = undefined;
    const done = await upload('done.csv', 'seller,sku,name,price\nshop,A,a,1\n');
    const needed = await upload('needed.csv', 'seller,sku,name,price\nshop,B,b,2\n');
    const recent = await upload('recent.csv', 'seller,sku,name,price\nshop,C,c,3\n');
    await importBatch(done, 40);
    const waiting = await importBatch(needed, null);
    await importBatch(recent, 5);
    await db.pool.query(`update app_public.catalog_files set uploaded_at = now() - interval '45 days' where id = any($1)`, [[done, needed, recent]]);
    await db.pool.query(`update app_public.batches set created_at = now() - interval '45 days' where id = $1`, [waiting]);

    const { rows } = await db.pool.query(`select * from app_public.prune_finished_batches('30 days')`);
    expect(rows[0]).toMatchObject({ catalog_file_chunks: '1', catalog_files_emptied: 1 });
    expect([await chunks(done), await chunks(needed), await chunks(recent)]).toEqual([0, 1, 1]);
    const files = await db.pool.query('select id, content_removed_at is not null as removed from app_public.catalog_files where id = any($1) order by filename', [[done, needed, recent]]);
    expect(files.rows).toEqual([{ id: done, removed: true }, { id: needed, removed: false }, { id: recent, removed: false }]);

    // The same content uploaded again is the same file, whole again.
    expect(await upload('done-again.csv', 'seller,sku,name,price\nshop,A,a,1\n')).toBe(done);
    expect(await chunks(done)).toBe(1);
    expect((await db.pool.query('select content_removed_at from app_public.catalog_files where id = $1', [done])).rows).toEqual([{ content_removed_at: null }]);
    await db.pool.query('select app_public.cancel_batch($1)', [waiting]);
  });
});

// Operators often bound every statement of the application's role (statement_timeout). A large
// batch's summary takes longer than a request, the sweeper reads every unfinished batch's items,
// and the prune's vacuum is slow on purpose (paced as autovacuum is): none may be cut short by it;
// the rest of the worker's statements keep it.
describe("under an operator's statement_timeout", () => {
  test('a 100,000-item batch gets its summary, its prune and vacuum complete, and so does a sweep', async () => {
    // Every statement of this worker may run 250 ms at most; it is the only worker.
    await worker?.stop();
    const url = new URL(db.url);
    url.searchParams.set('options', '-c statement_timeout=250');
    worker = await startWorkerProcess(db, { env: { DATABASE_URL: url.toString() } });
    const { rows: [batch] } = await db.pool.query<{ id: string }>(`
      with b as (insert into app_public.batches (tenant_id, kind) values ($1, 'noop') returning id)
      insert into app_public.batch_items (batch_id, tenant_id, payload, status, attempts, result, started_at, finished_at)
      select b.id, $1, jsonb_build_object('n', i, 'note', repeat('x', 100)), 'succeeded', 1, '{"slept_ms": 0}', now(), now()
      from b, generate_series(1, 100000) i
      returning batch_id as id`, [tenant]);
    await waitForSummary(db, batch.id, 60_000);
    await ageBatch(db, batch.id, 40);
    await pruneNow(db);
    expect(await itemCount(batch.id)).toBe(0);
    // The sweeper too, which checks every unfinished batch's counters against its items.
    const { rows: [sweep] } = await db.pool.query<{ id: string }>(`select id from graphile_worker.add_job('sweep_batches', '{}')`);
    await waitFor(async () => (await db.pool.query('select 1 from graphile_worker.jobs where id = $1', [sweep.id])).rowCount === 0, { what: 'the sweep to run' });
    const pruned = worker.output().split('\n').filter((line) => line.includes('"msg":"pruned finished batches"')).map((line) => JSON.parse(line));
    expect(pruned).toHaveLength(1);
    // Longer than the timeout: the vacuum was not bound by it.
    expect(pruned[0].vacuum_seconds).toBeGreaterThan(0.25);
    expect(worker.output().split('\n').filter((line) => line.includes('"level":"error"'))).toEqual([]);
  }, 120_000);
});

describe('a retry racing a prune', () => {
  test('a batch whose failed items are retried while a prune waits for it keeps its items, and the prune goes on', async () => {
    await worker?.stop();
    worker = undefined;
    // A finished batch with failed items, summarised, 40 days old.
    const client = await db.pool.connect();
    let batchId: string;
    try {
      await client.query('begin');
      ({ rows: [{ id: batchId }] } = await client.query(`insert into app_public.batches (tenant_id, kind) values ($1, 'fail') returning id`, [tenant]));
      await client.query(
        `insert into app_public.batch_items (batch_id, tenant_id, payload, status, attempts, last_error, finished_at)
         select $1, $2, '{"message": "boom"}', 'failed', 3, 'boom', now() from generate_series(1, 3)`, [batchId, tenant]);
      await client.query('commit');
    } finally {
      client.release();
    }
    await db.pool.query('select app_private.write_run_summary($1)', [batchId]);
    await ageBatch(db, batchId, 40);

    // The tenant's retry holds the batch's row; the prune that chose the batch waits for it.
    const retry = await db.pool.connect();
    try {
      await retry.query('begin');
      await retry.query(`select set_config('role', 'app_user', true), set_config('jwt.claims.tenant_id', $1, true)`, [tenant]);
      await retry.query('select app_public.retry_failed_items($1)', [batchId]);
      const prune = db.pool.query(`select * from app_public.prune_finished_batches('30 days')`);
      await waitFor(async () => (await db.pool.query(
        `select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%prune_finished_batches%' and pid <> pg_backend_pid()`)).rowCount,
      { what: 'the prune to wait for the retry' });
      await retry.query('commit');
      await prune;
    } finally {
      retry.release();
    }
    expect(await itemCount(batchId)).toBe(3);
    expect(await statusOf(db, batchId)).toMatchObject({ status: 'processing', pending_items: 3, finished_at: null });
    await db.pool.query('select app_public.cancel_batch($1)', [batchId]);
  });
});

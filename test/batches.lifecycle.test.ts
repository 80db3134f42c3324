// A batch from submission to summary, through the contract's functions and through plain SQL,
// with a real worker process running the items.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  asTenant,
  createTenant,
  startWorkerProcess,
  statusOf,
  submitBatch,
  useTestDatabase,
  waitFor,
  waitForSummary,
  type WorkerProcess,
} from './helpers.ts';

const db = useTestDatabase();
let worker: WorkerProcess;
let tenant: string;

beforeAll(async () => {
  // Quick retries, so that poison items use up their attempts within the test.
  await db.pool.query(`update app_public.batch_kinds set retry_delay = '50 milliseconds'`);
  tenant = await createTenant(db);
  worker = await startWorkerProcess(db);
});
afterAll(() => worker?.stop());

interface RunSummary {
  status: string;
  total_items: number;
  succeeded_items: number;
  failed_items: number;
  cancelled_items: number;
  errors: Array<{ message: string; count: number }>;
  stats: Record<string, unknown>;
}

async function summaryOf(batchId: string): Promise<RunSummary> {
  const { rows } = await db.pool.query<RunSummary>('select * from app_public.run_summaries where batch_id = $1', [batchId]);
  return rows[0];
}

describe('a normal batch', () => {
  test('runs every item and writes its summary', async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{}, { sleep_ms: 20 }, { sleep_ms: 30 }, {}]);
    expect(batch).toMatchObject({ status: 'pending', total_items: 4 });

    const status = await waitForSummary(db, batch.id);
    expect(status).toMatchObject({
      status: 'completed',
      total_items: 4,
      pending_items: 0,
      processing_items: 0,
      succeeded_items: 4,
      failed_items: 0,
      progress: '1.0000',
      stuck_reason: null,
    });
    expect(await summaryOf(batch.id)).toMatchObject({
      status: 'completed',
      total_items: 4,
      succeeded_items: 4,
      failed_items: 0,
      errors: [],
      stats: { slept_ms: 50 },
    });
    const { rows: items } = await db.pool.query('select status, attempts, finished_at from app_public.batch_items where batch_id = $1', [batch.id]);
    expect(items.every((item) => item.status === 'succeeded' && item.attempts === 1 && item.finished_at)).toBe(true);
  });
});

describe('a poison item', () => {
  test('fails after its retries with its message kept, while its siblings succeed', async () => {
    const batch = await submitBatch(db, tenant, 'fail', [
      { message: 'the file is not a catalog' },
      { message: 'flaky', fail_times: 1 },
      { message: 'flaky', fail_times: 2 },
    ]);
    const status = await waitForSummary(db, batch.id);
    expect(status).toMatchObject({ status: 'completed_with_errors', succeeded_items: 2, failed_items: 1 });

    const { rows } = await db.pool.query(
      'select payload, status, attempts, last_error from app_public.batch_items where batch_id = $1 order by id',
      [batch.id],
    );
    expect(rows).toMatchObject([
      { status: 'failed', attempts: 3, last_error: 'the file is not a catalog' },
      { status: 'succeeded', attempts: 2 },
      { status: 'succeeded', attempts: 3 },
    ]);
    expect(await summaryOf(batch.id)).toMatchObject({
      status: 'completed_with_errors',
      errors: [{ message: 'the file is not a catalog', count: 1 }],
      stats: { attempts_needed: 5 },
    });
  });

  test('an item whose payload its kind rejects fails at once, without retries', async () => {
    // A sleep past what a timer can wait (2^31 - 1 ms) would end at once, and claim to have slept.
    const batch = await submitBatch(db, tenant, 'noop', [{ sleep_ms: 'soon' }, { sleep_ms: 1e12 }, {}]);
    await waitForSummary(db, batch.id);
    const { rows } = await db.pool.query('select status, attempts, last_error from app_public.batch_items where batch_id = $1 order by id', [batch.id]);
    expect(rows).toEqual([
      { status: 'failed', attempts: 1, last_error: 'invalid payload: sleep_ms must be a number of milliseconds from 0 to 2147483647' },
      { status: 'failed', attempts: 1, last_error: 'invalid payload: sleep_ms must be a number of milliseconds from 0 to 2147483647' },
      { status: 'succeeded', attempts: 1, last_error: null },
    ]);
  });
});

describe('submission by plain SQL', () => {
  test('INSERTs into batches and batch_items in one transaction are a complete submission', async () => {
    const batchId = await asTenant(db, tenant, async (client) => {
      const { rows } = await client.query(`insert into app_public.batches (kind) values ('noop') returning id`);
      // tenant_id left out: it comes from the batch. Two statements, one transaction.
      await client.query(`insert into app_public.batch_items (batch_id, payload) select $1, '{}' from generate_series(1, 150)`, [rows[0].id]);
      await client.query(`insert into app_public.batch_items (batch_id, payload) values ($1, '{"sleep_ms": 5}')`, [rows[0].id]);
      return rows[0].id as string;
    });
    const status = await waitForSummary(db, batchId);
    expect(status).toMatchObject({ status: 'completed', total_items: 151, succeeded_items: 151 });
  });

  test('items can not be added to a batch after the transaction that created it', async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{}]);
    await expect(
      asTenant(db, tenant, (client) => client.query(`insert into app_public.batch_items (batch_id) values ($1)`, [batch.id])),
    ).rejects.toMatchObject({ code: 'FLSLD' });
  });
});

describe('an empty batch', () => {
  test('submitted by the function, completes with an empty summary', async () => {
    const batch = await submitBatch(db, tenant, 'noop', []);
    // Finished by the commit itself, before any worker saw it.
    expect(await statusOf(db, batch.id)).toMatchObject({ status: 'completed', total_items: 0, progress: '1' });
    await waitForSummary(db, batch.id);
    expect(await summaryOf(batch.id)).toMatchObject({ status: 'completed', total_items: 0, errors: [], stats: {} });
  });

  test('submitted by a plain INSERT, completes too', async () => {
    const batchId = await asTenant(db, tenant, async (client) => {
      const { rows } = await client.query(`insert into app_public.batches (kind) values ('noop') returning id`);
      return rows[0].id as string;
    });
    expect((await waitForSummary(db, batchId)).status).toBe('completed');
  });
});

describe('cancel_batch', () => {
  test('cancels the items that have not finished, and the batch finishes as cancelled', async () => {
    const batch = await submitBatch(db, tenant, 'noop', Array.from({ length: 20 }, () => ({ sleep_ms: 60_000 })));
    await waitFor(async () => (await statusOf(db, batch.id)).processing_items > 0, { what: 'items to start' });
    const cancelled = await asTenant(db, tenant, async (client) => {
      const { rows } = await client.query('select * from app_public.cancel_batch($1)', [batch.id]);
      return rows[0];
    });
    expect(cancelled).toMatchObject({ status: 'cancelled' });
    expect(cancelled.finished_at).not.toBeNull();
    const status = await waitForSummary(db, batch.id);
    expect(status).toMatchObject({ status: 'cancelled', cancelled_items: 20, pending_items: 0, processing_items: 0 });
    expect(await summaryOf(batch.id)).toMatchObject({ status: 'cancelled', cancelled_items: 20 });
  });
});

describe('retry_failed_items', () => {
  test('puts failed items back with fresh attempts and re-opens the batch, which finishes again', async () => {
    const batch = await submitBatch(db, tenant, 'fail', [{ message: 'upstream down' }, { message: 'bad row', fail_times: 0 }]);
    const first = await waitForSummary(db, batch.id);
    expect(first).toMatchObject({ status: 'completed_with_errors', failed_items: 1, succeeded_items: 1 });

    // The operator fixes the cause (here: the upstream now answers), then retries.
    await db.pool.query(`update app_public.batch_items set payload = '{"fail_times": 0}' where batch_id = $1 and status = 'failed'`, [batch.id]);
    const reopened = await asTenant(db, tenant, async (client) => {
      const { rows } = await client.query('select * from app_public.retry_failed_items($1)', [batch.id]);
      return rows[0];
    });
    expect(reopened).toMatchObject({ status: 'processing', finished_at: null });
    expect((await statusOf(db, batch.id)).has_summary).toBe(false);

    const second = await waitForSummary(db, batch.id);
    expect(second).toMatchObject({ status: 'completed', failed_items: 0, succeeded_items: 2 });
    expect(second.finished_at!.getTime()).toBeGreaterThan(first.finished_at!.getTime());
    const { rows } = await db.pool.query('select status, attempts from app_public.batch_items where batch_id = $1 order by id', [batch.id]);
    expect(rows).toEqual([
      { status: 'succeeded', attempts: 1 },
      { status: 'succeeded', attempts: 1 },
    ]);
    expect(await summaryOf(batch.id)).toMatchObject({ status: 'completed', errors: [] });
  });
});

describe('idempotent submission', () => {
  const keyed = (key: string) => async () =>
    (await db.pool.query(`select count(*)::int as n from app_public.batches where idempotency_key = $1`, [key])).rows[0].n;

  test('the same key with the same request returns the same batch and creates nothing', async () => {
    const first = await submitBatch(db, tenant, 'noop', [{ n: 1 }, { n: 2 }], { idempotencyKey: 'upload-42', metadata: { from: 'x' } });
    const second = await submitBatch(db, tenant, 'noop', [{ n: 1 }, { n: 2 }], { idempotencyKey: 'upload-42', metadata: { from: 'x' } });
    expect(second.id).toBe(first.id);
    expect(second.total_items).toBe(2);
    expect(await keyed('upload-42')()).toBe(1);
    // Keys are per tenant: another tenant's same key is another batch.
    const other = await submitBatch(db, await createTenant(db), 'noop', [{}], { idempotencyKey: 'upload-42' });
    expect(other.id).not.toBe(first.id);
  });

  test.each([
    ['other items', 'noop', [{ n: 1 }, { n: 3 }], {}],
    ['one more item', 'noop', [{ n: 1 }, { n: 2 }, { n: 3 }], {}],
    ['another kind', 'fail', [{ n: 1 }, { n: 2 }], {}],
    ['other metadata', 'noop', [{ n: 1 }, { n: 2 }], { from: 'y' }],
  ])('the same key with %s is refused (FLIDM), and the first batch is kept as it was', async (_case, kind, items, metadata) => {
    const key = `import-${_case}`;
    const first = await submitBatch(db, tenant, 'noop', [{ n: 1 }, { n: 2 }], { idempotencyKey: key });
    await expect(submitBatch(db, tenant, kind, items, { idempotencyKey: key, metadata })).rejects.toMatchObject({
      code: 'FLIDM',
      message: `idempotency key "${key}" was used for another request (batch ${first.id})`,
    });
    expect(await keyed(key)()).toBe(1);
    expect(await statusOf(db, first.id)).toMatchObject({ kind: 'noop', total_items: 2 });
  });

  test.each([['empty', ''], ['longer than 200 characters', 'k'.repeat(201)]])('a key that is %s is refused (FLKEY)', async (_case, key) => {
    await expect(submitBatch(db, tenant, 'noop', [{}], { idempotencyKey: key })).rejects.toMatchObject({
      code: 'FLKEY',
      message: `idempotencyKey must be 1 to 200 characters long, not ${key.length}`,
    });
    expect(await keyed(key)()).toBe(0);
  });
});

describe('request_batch_summary', () => {
  async function request(batchId: string) {
    return asTenant(db, tenant, async (client) => {
      const { rows } = await client.query('select state, retry_after_seconds, (summary).* from app_public.request_batch_summary($1)', [batchId]);
      return rows[0];
    });
  }

  test('not_finished while items run, ready once written, pending when the summary is missing', async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{ sleep_ms: 1500 }]);
    expect(await request(batch.id)).toMatchObject({ state: 'not_finished', retry_after_seconds: null, batch_id: null });

    await waitForSummary(db, batch.id);
    expect(await request(batch.id)).toMatchObject({ state: 'ready', batch_id: batch.id, status: 'completed', succeeded_items: 1 });

    // A summary lost (say, a crash before it was written): asking enqueues the work again.
    await db.pool.query('delete from app_public.run_summaries where batch_id = $1', [batch.id]);
    expect(await request(batch.id)).toMatchObject({ state: 'pending', retry_after_seconds: 2, batch_id: null });
    await waitFor(async () => (await request(batch.id)).state === 'ready', { what: 'the summary to be rewritten' });
  });
});

// Bad input gets a clear error with a stable code and writes nothing; illegal states are refused
// by the database itself; a tenant sees and touches only its own batches.
import { beforeAll, describe, expect, test } from 'vitest';
import { asRole, asTenant, createTenant, statusOf, submitBatch, useTestDatabase } from './helpers.ts';

const db = useTestDatabase();
let tenant: string;
let otherTenant: string;

beforeAll(async () => {
  tenant = await createTenant(db);
  otherTenant = await createTenant(db);
});

async function rowCounts() {
  const { rows } = await db.pool.query(
    `select (select count(*) from app_public.batches)::int as batches,
            (select count(*) from app_public.batch_items)::int as items,
            (select count(*) from graphile_worker.jobs)::int as jobs`,
  );
  return rows[0];
}

function submitAs(tenantId: string, sql: string, params: unknown[]) {
  return asTenant(db, tenantId, (client) => client.query(sql, params));
}

describe('submit_batch refuses bad input and writes nothing', () => {
  test.each([
    ['an unknown kind', ['teleport', '[{}]', '{}'], 'FLKND', 'unknown batch kind "teleport"'],
    ['items that are not an array', ['noop', '{"url": "x"}', '{}'], 'FLITM', 'items must be a JSON array of payload objects, not object'],
    ['items that are null', ['noop', null, '{}'], 'FLITM', 'items must be a JSON array of payload objects, not null'],
    ['a payload that is not an object', ['noop', '[{}, 3, {}]', '{}'], 'FLPAY', 'item 1 is not a JSON object: each item\'s payload must be an object'],
    ['metadata that is not an object', ['noop', '[{}]', '[1]'], 'FLMET', 'metadata must be a JSON object'],
  ])('%s', async (_case, params, code, message) => {
    const before = await rowCounts();
    await expect(submitAs(tenant, 'select * from app_public.submit_batch($1, $2::jsonb, $3::jsonb)', params)).rejects.toMatchObject({
      code,
      message,
    });
    expect(await rowCounts()).toEqual(before);
  });

  test('without a tenant in the request', async () => {
    await expect(
      asRole(db, 'app_user', {}, (client) => client.query(`select * from app_public.submit_batch('noop', '[{}]')`)),
    ).rejects.toMatchObject({ code: 'FLTEN' });
  });

  test('with a tenant that does not exist (a token that outlived its tenant)', async () => {
    const removed = await createTenant(db);
    await db.pool.query('delete from app_public.tenants where id = $1', [removed]);
    const before = await rowCounts();
    await expect(submitAs(removed, `select * from app_public.submit_batch('noop', '[{}]')`, [])).rejects.toMatchObject({
      code: 'FLTEN',
      message: `no tenant ${removed}: the request's tenant_id names no tenant`,
    });
    expect(await rowCounts()).toEqual(before);
  });
});

describe('functions given a batch that does not exist', () => {
  test.each(['cancel_batch', 'retry_failed_items', 'request_batch_summary'])('%s says not found', async (fn) => {
    const missing = '00000000-0000-4000-8000-000000000000';
    await expect(submitAs(tenant, `select * from app_public.${fn}($1)`, [missing])).rejects.toMatchObject({
      code: 'FLNFD',
      message: `batch ${missing} not found`,
    });
  });

  test('or a batch id that is not a uuid', async () => {
    await expect(submitAs(tenant, 'select * from app_public.cancel_batch($1)', ['42'])).rejects.toMatchObject({ code: '22P02' });
  });
});

describe('illegal states are refused by the database', () => {
  test('a succeeded item can not go back to processing', async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{}]);
    await db.pool.query(`update app_public.batch_items set status = 'processing', locked_by = 'w', attempts = 1 where batch_id = $1`, [batch.id]);
    await db.pool.query(`update app_public.batch_items set status = 'succeeded', locked_by = null, finished_at = now() where batch_id = $1`, [batch.id]);
    await expect(
      db.pool.query(`update app_public.batch_items set status = 'processing', locked_by = 'w', finished_at = null where batch_id = $1`, [batch.id]),
    ).rejects.toMatchObject({ code: 'FLTRN' });
    await expect(
      db.pool.query(`update app_public.batch_items set status = 'pending', finished_at = null where batch_id = $1`, [batch.id]),
    ).rejects.toMatchObject({ code: 'FLTRN' });
  });

  test('the guard on item transitions locks no row: a claim or an outcome locks an item only to move it to another page', async () => {
    // A BEFORE UPDATE trigger would lock each row it might fire on, a WAL record of its own.
    // PostgreSQL itself locks a row, in a record too, while it moves its update to another page
    // (one with no room yet: its older versions are pruned only once no older transaction of the
    // server is left), which these updates otherwise never do.
    await db.pool.query('create extension if not exists pg_walinspect');
    const batch = await submitBatch(db, tenant, 'noop', Array.from({ length: 40 }, () => ({})));
    const { rows: items } = await db.pool.query<{ id: string }>('select id from app_public.batch_items where batch_id = $1 order by id', [batch.id]);
    const ids = items.map((item) => item.id);
    const client = await db.pool.connect();
    try {
      const lsn = async () => (await client.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn')).rows[0].lsn;
      // The heap records of this database's batch_items from `from` on. Each statement commits,
      // so its records are flushed: the range ends at the flush position.
      const heapRecords = async (from: string) => {
        // An update that starts a new page is an `UPDATE+INIT`.
        const { rows: [written] } = await client.query<{ locks: number; heapOnly: number; moved: number }>(
          `select count(*) filter (where record_type like 'LOCK%')::integer as locks,
             count(*) filter (where record_type like 'HOT_UPDATE%')::integer as "heapOnly",
             count(*) filter (where record_type like 'UPDATE%')::integer as moved
           from pg_get_wal_records_info($1::pg_lsn, pg_current_wal_flush_lsn())
           where resource_manager = 'Heap'
             and block_ref ~ (' rel \\d+/' || (select oid from pg_database where datname = current_database()) || '/'
                              || pg_relation_filenode('app_public.batch_items') || ' ')`, [from]);
        return written;
      };
      for (const [sql, params] of [
        [`select app_private.start_items($1, $2::bigint[], 'wal-worker')`, [batch.id, ids]],
        [`select app_private.finish_items('wal-worker', $1::jsonb)`, [JSON.stringify(ids.map((id) => ({ id, error: null, result: null })))]],
      ] as const) {
        const from = await lsn();
        await client.query(sql, [...params]);
        const written = await heapRecords(from);
        expect(written.heapOnly + written.moved).toBe(ids.length);
        expect(written.locks).toBe(written.moved);
      }
    } finally {
      client.release();
    }
    expect(await statusOf(db, batch.id)).toMatchObject({ status: 'completed', succeeded_items: 40 });
  });

  test("a batch's status can not be set against its items", async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{}, {}]);
    await expect(
      db.pool.query(`update app_public.batches set status = 'completed', finished_at = now() where id = $1`, [batch.id]),
    ).rejects.toMatchObject({ code: 'FLBST', message: `batch ${batch.id} cannot be set to completed while its items say pending` });
  });

  test('a batch can not be inserted already finished', async () => {
    await expect(
      db.pool.query(`insert into app_public.batches (tenant_id, kind, status, finished_at) values ($1, 'noop', 'completed', now())`, [tenant]),
    ).rejects.toMatchObject({ code: 'FLBST' });
  });

  test('an item can not name a batch of another tenant', async () => {
    const batch = await submitBatch(db, otherTenant, 'noop', [{}]);
    await expect(
      db.pool.query(`insert into app_public.batch_items (batch_id, tenant_id) values ($1, $2)`, [batch.id, tenant]),
    ).rejects.toMatchObject({ code: '23503' });
  });

  test('an item can not name a batch that does not exist', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    await expect(
      db.pool.query(`insert into app_public.batch_items (batch_id, tenant_id) values ($1, $2)`, [missing, tenant]),
    ).rejects.toMatchObject({ code: '23503', message: expect.stringContaining(missing) });
  });

  test('a batch keeps its tenant, and its items go with it when it is deleted', async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{}, {}]);
    await expect(
      db.pool.query(`update app_public.batches set tenant_id = $2 where id = $1`, [batch.id, otherTenant]),
    ).rejects.toMatchObject({ code: 'FLBMV' });
    await db.pool.query(`delete from app_public.batches where id = $1`, [batch.id]);
    const { rows } = await db.pool.query(`select count(*)::int as n from app_public.batch_items where batch_id = $1`, [batch.id]);
    expect(rows[0].n).toBe(0);
  });

  test('truncating batches truncates their items too', async () => {
    await submitBatch(db, tenant, 'noop', [{}]);
    const client = await db.pool.connect();
    try {
      // In a transaction rolled back, so that the file's other batches stay.
      await client.query('begin');
      await client.query('truncate app_public.batches cascade');
      const { rows } = await client.query(`select count(*)::int as n from app_public.batch_items`);
      expect(rows[0].n).toBe(0);
    } finally {
      await client.query('rollback');
      client.release();
    }
  });
});

describe('tenants are kept apart by row level security', () => {
  test("a tenant neither sees nor changes another tenant's batches", async () => {
    const theirs = await submitBatch(db, otherTenant, 'noop', [{}, {}]);
    const seen = await asTenant(db, tenant, async (client) => {
      const queries = {
        batches: 'select count(*)::int as n from app_public.batches where id = $1',
        items: 'select count(*)::int as n from app_public.batch_items where batch_id = $1',
        status: 'select count(*)::int as n from app_public.batch_status_summary where batch_id = $1',
        counters: 'select count(*)::int as n from app_private.batch_counters where batch_id = $1',
      };
      const counts: Record<string, number> = {};
      for (const [name, sql] of Object.entries(queries)) counts[name] = (await client.query(sql, [theirs.id])).rows[0].n;
      return counts;
    });
    expect(seen).toEqual({ batches: 0, items: 0, status: 0, counters: 0 });
    await expect(submitAs(tenant, 'select * from app_public.cancel_batch($1)', [theirs.id])).rejects.toMatchObject({ code: 'FLNFD' });
    const { rows } = await db.pool.query(`select status from app_public.batch_items where batch_id = $1`, [theirs.id]);
    expect(rows.every((row) => row.status === 'pending')).toBe(true);
  });

  test("a tenant's failed items can't be retried by another tenant", async () => {
    const theirs = await submitBatch(db, otherTenant, 'noop', [{}]);
    await db.pool.query(`update app_public.batch_items set status = 'processing', locked_by = 'w', attempts = 1 where batch_id = $1`, [theirs.id]);
    await db.pool.query(`update app_public.batch_items set status = 'failed', locked_by = null, finished_at = now() where batch_id = $1`, [theirs.id]);
    await expect(submitAs(tenant, 'select * from app_public.retry_failed_items($1)', [theirs.id])).rejects.toMatchObject({ code: 'FLNFD' });
    const { rows } = await db.pool.query(`select status, attempts from app_public.batch_items where batch_id = $1`, [theirs.id]);
    expect(rows).toEqual([{ status: 'failed', attempts: 1 }]);
  });

  test('a tenant can not update items itself, not even its own: only cancel_batch and retry_failed_items change them', async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{}, {}]);
    for (const update of [
      `update app_public.batch_items set status = 'processing', locked_by = 'no-such-worker' where batch_id = $1`,
      `update app_public.batch_items set status = 'cancelled', finished_at = now() where batch_id = $1`,
      `update app_public.batch_items set attempts = 0 where batch_id = $1`,
    ]) {
      await expect(submitAs(tenant, update, [batch.id])).rejects.toMatchObject({ code: '42501' });
    }
    const { rows } = await db.pool.query(`select status, locked_by from app_public.batch_items where batch_id = $1`, [batch.id]);
    expect(rows).toEqual([{ status: 'pending', locked_by: null }, { status: 'pending', locked_by: null }]);
    const cancelled = await submitAs(tenant, 'select status from app_public.cancel_batch($1)', [batch.id]);
    expect(cancelled.rows[0].status).toBe('cancelled');
  });

  test("an admin may cancel any tenant's batch", async () => {
    const batch = await submitBatch(db, otherTenant, 'noop', [{}]);
    const cancelled = await asRole(db, 'app_admin', {}, (client) => client.query('select status from app_public.cancel_batch($1)', [batch.id]));
    expect(cancelled.rows[0].status).toBe('cancelled');
  });

  test("a tenant can't have another tenant's summary written", async () => {
    const theirs = await submitBatch(db, otherTenant, 'noop', [{}]);
    await db.pool.query(`update app_public.batch_items set status = 'cancelled', finished_at = now() where batch_id = $1`, [theirs.id]);
    await db.pool.query('select graphile_worker.remove_job($1)', [`aggregate_batch:${theirs.id}`]);
    await submitAs(tenant, 'select app_private.enqueue_batch_summary($1)', [theirs.id]);
    const { rows } = await db.pool.query('select count(*)::int as n from graphile_worker.jobs where key = $1', [`aggregate_batch:${theirs.id}`]);
    expect(rows[0].n).toBe(0);
  });

  test("a tenant can't learn why another tenant's batch is stuck", async () => {
    const theirs = await submitBatch(db, otherTenant, 'noop', [{}]);
    const ours = await submitBatch(db, tenant, 'noop', [{}]);
    // No worker runs in this file: a batch the caller may see is stuck for want of one.
    const reasons = await asTenant(db, tenant, async (client) => {
      const reasonOf = async (batchId: string) =>
        (await client.query('select app_private.batch_stuck_reason($1, 1, 0, now(), null) as reason', [batchId])).rows[0].reason;
      return { theirs: await reasonOf(theirs.id), ours: await reasonOf(ours.id) };
    });
    expect(reasons).toEqual({ theirs: null, ours: 'no_worker_alive' });
  });

  test('an admin sees every tenant; an anonymous request sees no batch at all', async () => {
    await submitBatch(db, tenant, 'noop', [{}]);
    await submitBatch(db, otherTenant, 'noop', [{}]);
    const tenantsSeen = await asRole(db, 'app_admin', {}, async (client) => {
      const { rows } = await client.query('select count(distinct tenant_id)::int as n from app_public.batch_status_summary');
      return rows[0].n;
    });
    expect(tenantsSeen).toBe(2);
    const anonymous = await asRole(db, 'app_anonymous', {}, (client) => client.query('select * from app_public.batches'));
    expect(anonymous.rows).toEqual([]);
  });
});

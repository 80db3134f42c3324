// The sweeper repairs what crashes and hands left behind, and logs every repair.
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
let tenant: string;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  tenant = await createTenant(db);
});
afterAll(() => worker?.stop());

/** Runs the sweeper the way the crontab does: as a sweep_batches job that a worker picks up. */
async function sweepNow(): Promise<void> {
  const { rows } = await db.pool.query(`select id from graphile_worker.add_job('sweep_batches', '{}', queue_name => 'finishline_sweeper')`);
  const jobId: string = rows[0].id;
  await waitFor(async () => {
    const { rowCount } = await db.pool.query('select 1 from graphile_worker.jobs where id = $1', [jobId]);
    return rowCount === 0;
  }, { what: 'the sweep to run' });
}

/**
 * Waits until the crontab's own sweep (at the top of every minute) is at least ten seconds away,
 * for a test that looks at damage before sweepNow repairs it.
 */
async function awayFromTheCrontabSweep(): Promise<void> {
  await waitFor(async () => {
    const second = new Date().getSeconds();
    return second >= 2 && second < 50;
  }, { what: 'a moment away from the crontab sweep', timeoutMs: 15_000, intervalMs: 200 });
}

async function repairsOf(batchId: string) {
  const { rows } = await db.pool.query('select repair, details from app_private.sweeper_repairs where batch_id = $1 order by id', [batchId]);
  return rows;
}

describe('counters damaged on purpose', () => {
  beforeAll(async () => (worker = await startWorkerProcess(db)));

  test('of a finished batch are corrected, and the correction logged', async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{}, {}, {}]);
    await waitForSummary(db, batch.id);
    await awayFromTheCrontabSweep();
    // Damaged before any sweep found them right (a sweep checks a finished batch once).
    await db.pool.query('update app_private.batch_counter_slots set succeeded_items = 0, failed_items = case slot when 0 then 7 else 0 end, counters_checked_at = null where batch_id = $1', [batch.id]);
    expect(await statusOf(db, batch.id)).toMatchObject({ succeeded_items: 0, failed_items: 7 });

    await sweepNow();
    expect(await statusOf(db, batch.id)).toMatchObject({ status: 'completed', succeeded_items: 3, failed_items: 0 });
    expect(await repairsOf(batch.id)).toEqual([
      {
        repair: 'corrected_counters',
        details: {
          found: { pending: 0, processing: 0, succeeded: 0, failed: 7, cancelled: 0 },
          actual: { pending: 0, processing: 0, succeeded: 3, failed: 0, cancelled: 0 },
          status: 'completed',
        },
      },
    ]);
  });

  test('that would keep a batch from ever finishing are corrected, and the batch finishes', async () => {
    await awayFromTheCrontabSweep();
    const batch = await submitBatch(db, tenant, 'noop', [{ sleep_ms: 300 }, { sleep_ms: 300 }]);
    await db.pool.query('update app_private.batch_counter_slots set pending_items = pending_items + 3 where batch_id = $1 and slot = 0', [batch.id]);
    await waitFor(async () => {
      const { rows } = await db.pool.query(`select count(*)::int as n from app_public.batch_items where batch_id = $1 and status = 'succeeded'`, [batch.id]);
      return rows[0].n === 2;
    }, { what: 'both items to succeed' });
    // Every item is done, yet the counters say three are pending: the batch can't finish alone.
    expect(await statusOf(db, batch.id)).toMatchObject({ status: 'processing', pending_items: 3, stuck_reason: 'counters_out_of_date' });

    await sweepNow();
    const status = await waitForSummary(db, batch.id);
    expect(status).toMatchObject({ status: 'completed', pending_items: 0, succeeded_items: 2, stuck_reason: null });
    expect((await repairsOf(batch.id)).map((row) => row.repair)).toEqual(['corrected_counters']);
  });

  test('a finished batch whose summary was lost gets one again', async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{}]);
    await waitForSummary(db, batch.id);
    await db.pool.query('delete from app_public.run_summaries where batch_id = $1', [batch.id]);

    await sweepNow();
    await waitForSummary(db, batch.id);
    expect((await repairsOf(batch.id)).map((row) => row.repair)).toEqual(['enqueued_summary']);
  });

  test('of a finished batch are counted by one sweep, not by every sweep', async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{}, {}]);
    await waitForSummary(db, batch.id);
    const checkedAt = async () => (await db.pool.query(
      'select counters_checked_at from app_private.batch_counter_slots where batch_id = $1 and slot = 0', [batch.id])).rows[0].counters_checked_at;
    await sweepNow();
    const checked = await checkedAt();
    expect(checked).not.toBeNull();
    await sweepNow();
    expect(await checkedAt()).toEqual(checked);
    expect(await repairsOf(batch.id)).toEqual([]);
  });

  test('a sweep with nothing to repair logs nothing', async () => {
    const before = await db.pool.query('select count(*)::int as n from app_private.sweeper_repairs');
    await sweepNow();
    const after = await db.pool.query('select count(*)::int as n from app_private.sweeper_repairs');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });
});

describe('pending items whose jobs are gone', () => {
  /** The batch (two items, no job of its own) idle for 10 minutes: flagged, re-enqueued by the sweep, finished by a worker. */
  async function expectSweptAndFinished(batchId: string) {
    await db.pool.query(`update app_private.batch_counter_slots set updated_at = now() - interval '10 minutes' where batch_id = $1`, [batchId]);
    // A worker is alive (a heartbeat), so the only thing wrong is the missing jobs.
    await db.pool.query(`insert into app_private.workers (id, hostname, pid, concurrency) values ('pool-observer', 'test', 1, 1)`);
    expect((await statusOf(db, batchId)).stuck_reason).toBe('items_without_job');
    await db.pool.query(`delete from app_private.workers where id = 'pool-observer'`);

    const { rows } = await db.pool.query('select app_private.sweep_batches() as repairs');
    expect(rows[0].repairs).toEqual({ orphaned_batches: 1 });
    expect(await repairsOf(batchId)).toEqual([{ repair: 'enqueued_orphaned_items', details: { items: 2 } }]);

    worker = await startWorkerProcess(db);
    expect((await waitForSummary(db, batchId)).status).toBe('completed');
  }

  test('are enqueued again once their batch has been idle, and finish', async () => {
    await worker?.stop();
    worker = undefined;
    const batch = await submitBatch(db, tenant, 'noop', [{}, {}]);
    // Someone fails the jobs for good by hand (the public way to get rid of jobs).
    await db.pool.query(`select graphile_worker.permanently_fail_jobs(array_agg(id), 'removed by hand') from graphile_worker.jobs where task_identifier = 'noop'`);
    await expectSweptAndFinished(batch.id);
  });

  test("are enqueued again while another batch's job of the same task is still queued", async () => {
    await worker?.stop();
    worker = undefined;
    const batch = await submitBatch(db, tenant, 'noop', [{}, {}]);
    await db.pool.query(`select graphile_worker.permanently_fail_jobs(array_agg(id), 'removed by hand') from graphile_worker.jobs where task_identifier = 'noop'`);
    // Another tenant's batch, cancelled: its job stays queued until a worker runs it (and does nothing).
    const otherTenant = await createTenant(db);
    const cancelled = await submitBatch(db, otherTenant, 'noop', [{}]);
    await asTenant(db, otherTenant, (client) => client.query('select app_public.cancel_batch($1)', [cancelled.id]));
    const { rows: queued } = await db.pool.query(`select count(*)::int as n from graphile_worker.jobs where task_identifier = 'noop' and attempts < max_attempts`);
    expect(queued[0].n).toBe(1);
    await expectSweptAndFinished(batch.id);
  });

  test('are left alone while a job of their own batch is still queued', async () => {
    await worker?.stop();
    worker = undefined;
    const batch = await submitBatch(db, tenant, 'noop', [{}]);
    await db.pool.query(`update app_private.batch_counter_slots set updated_at = now() - interval '10 minutes' where batch_id = $1`, [batch.id]);
    await db.pool.query(`insert into app_private.workers (id, hostname, pid, concurrency) values ('pool-observer', 'test', 1, 1)`);
    expect((await statusOf(db, batch.id)).stuck_reason).toBeNull();
    await db.pool.query(`delete from app_private.workers where id = 'pool-observer'`);

    const { rows } = await db.pool.query('select app_private.sweep_batches() as repairs');
    expect(rows[0].repairs).toEqual({});
    expect(await repairsOf(batch.id)).toEqual([]);

    worker = await startWorkerProcess(db);
    expect((await waitForSummary(db, batch.id)).status).toBe('completed');
  });
});

describe('items held by a worker that is gone', () => {
  beforeAll(async () => {
    await worker?.stop();
    worker = undefined;
  });

  /** Claims a new batch's items as `workerId` would, without running them. */
  async function claimedBatch(workerId: string) {
    const batch = await submitBatch(db, tenant, 'noop', [{}, {}]);
    await db.pool.query(`select app_private.start_items($1, array(select id from app_public.batch_items where batch_id = $1), $2)`, [batch.id, workerId]);
    return batch;
  }

  async function itemsOf(batchId: string) {
    const { rows } = await db.pool.query('select status, attempts, interruptions from app_public.batch_items where batch_id = $1 order by id', [batchId]);
    return rows;
  }

  test('whose heartbeat stopped: the batch says so, and the sweep gives them back with their attempt unspent', async () => {
    const batch = await claimedBatch('ghost-with-heartbeat');
    await db.pool.query(`insert into app_private.workers (id, hostname, pid, concurrency, last_seen_at) values ('ghost-with-heartbeat', 'test', 1, 1, now() - interval '1 hour')`);
    await db.pool.query(`insert into app_private.workers (id, hostname, pid, concurrency) values ('pool-observer', 'test', 1, 1)`);
    expect((await statusOf(db, batch.id)).stuck_reason).toBe('items_held_by_dead_worker');

    const { rows } = await db.pool.query('select app_private.sweep_batches() as repairs');
    await db.pool.query(`delete from app_private.workers where id = 'pool-observer'`);
    expect(rows[0].repairs).toMatchObject({ dead_workers: 1 });
    expect(await itemsOf(batch.id)).toEqual([
      { status: 'pending', attempts: 0, interruptions: 1 },
      { status: 'pending', attempts: 0, interruptions: 1 },
    ]);
    expect(await repairsOf(batch.id)).toEqual([{ repair: 'released_items', details: { items: 2 } }]);
  });

  test('that never beat: the sweep finds them among the items, gives them back, and the batch finishes', async () => {
    const batch = await claimedBatch('ghost-without-heartbeat');
    await db.pool.query(`update app_public.batch_items set started_at = now() - interval '1 hour' where batch_id = $1`, [batch.id]);

    const { rows } = await db.pool.query('select app_private.sweep_batches() as repairs');
    expect(rows[0].repairs).toMatchObject({ dead_workers: 1 });
    expect(await itemsOf(batch.id)).toEqual([
      { status: 'pending', attempts: 0, interruptions: 1 },
      { status: 'pending', attempts: 0, interruptions: 1 },
    ]);
    expect(await repairsOf(batch.id)).toEqual([{ repair: 'released_items', details: { items: 2 } }]);

    worker = await startWorkerProcess(db);
    expect((await waitForSummary(db, batch.id)).status).toBe('completed');
  });
});

describe('a sweep of batches whose counters are right', () => {
  test("locks none of them: a running batch's outcomes are recorded while a sweep's transaction is open", async () => {
    await worker?.stop();
    worker = undefined;
    const batch = await submitBatch(db, tenant, 'noop', [{}, {}]);
    const { rows: items } = await db.pool.query<{ id: string }>('select id from app_public.batch_items where batch_id = $1 order by id', [batch.id]);
    await db.pool.query(`insert into app_private.workers (id, hostname, pid, concurrency) values ('live-worker', 'test', 1, 1)`);
    await db.pool.query(`select app_private.start_items($1, $2::bigint[], 'live-worker')`, [batch.id, items.map((item) => item.id)]);
    const sweeper = await db.pool.connect();
    const recorder = await db.pool.connect();
    try {
      await sweeper.query('begin');
      const { rows: [sweep] } = await sweeper.query('select app_private.sweep_batches() as repairs');
      expect(sweep.repairs).toEqual({});
      // Row locks last until the sweep's transaction ends: a lock on the batch would stop this.
      await recorder.query(`set lock_timeout = '2s'`);
      const { rows: [finished] } = await recorder.query(`select recorded from app_private.finish_items('live-worker', $1::jsonb)`,
        [JSON.stringify(items.map(({ id }) => ({ id })))]);
      expect(finished).toEqual({ recorded: 2 });
      await sweeper.query('commit');
    } finally {
      await sweeper.query('rollback').catch(() => {});
      await recorder.query('reset lock_timeout');
      sweeper.release();
      recorder.release();
      await db.pool.query(`delete from app_private.workers where id = 'live-worker'`);
    }
    expect(await statusOf(db, batch.id)).toMatchObject({ status: 'completed', succeeded_items: 2 });
    expect(await repairsOf(batch.id)).toEqual([]);
  });
});

// A worker process that loses its pool, one whose pool wedges, a claim whose answer is lost, a
// fetch of a job whose answer is lost, a worker that died holding a batch's summary job, a
// cancelled batch whose items are running, a worker killed mid-batch with default settings, a
// worker whose machine vanished from the network, and a worker whose heartbeat comes due while it
// stops.
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { blackhole } from './blackhole.ts';
import { startConnectionCutter } from './connection_cutter.ts';
import { asTenant, createTenant, startWorkerProcess, statusOf, submitBatch, useTestDatabase, waitFor, waitForSummary, type WorkerProcess } from './helpers.ts';

const db = useTestDatabase();
let tenant: string;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  tenant = await createTenant(db, 'worker-faults');
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.stop()));
});

/** Whether some of the items run on a worker other than the process `pid`. */
async function runElsewhere(ids: string[], pid: number): Promise<boolean> {
  const { rows } = await db.pool.query<{ n: number }>(
    `select count(*)::int as n from app_public.batch_items i join app_private.workers w on w.id = i.locked_by
     where i.id = any($1::bigint[]) and i.status = 'processing' and w.pid <> $2`, [ids, pid]);
  return rows[0].n > 0;
}

async function worker(options: Parameters<typeof startWorkerProcess>[1] = {}) {
  const started = await startWorkerProcess(db, options);
  workers.push(started);
  return started;
}

describe('a worker process whose Graphile Worker pool stops on its own', () => {
  test('starts a new pool and finishes the batch, instead of serving on with no worker', async () => {
    // Graphile Worker shuts its pool down when it cannot record a job's completion: here the
    // database refuses the first completion as a shutting-down server would (a fault trigger on
    // its jobs table, in this test's database only).
    await db.pool.query(`
      create sequence public.test_completion_faults;
      create function public.test_refuse_first_completion() returns trigger language plpgsql as $$
      begin
        if nextval('public.test_completion_faults') = 1 then
          raise exception 'terminating connection due to administrator command' using errcode = '57P01';
        end if;
        return old;
      end $$;
      create trigger test_refuse_first_completion before delete on graphile_worker._private_jobs
        for each row execute function public.test_refuse_first_completion();`);
    try {
      const process = await worker();
      const batch = await submitBatch(db, tenant, 'noop', Array.from({ length: 2000 }, () => ({ sleep_ms: 5 })));
      const done = await waitForSummary(db, batch.id, 60_000);
      expect(done).toMatchObject({ status: 'completed', succeeded_items: 2000 });
      expect(process.output()).toContain('the worker pool stopped on its own: starting a new one');
      // It goes on running batches, and no item spent an attempt on the fault.
      const next = await submitBatch(db, tenant, 'noop', [{}, {}]);
      expect(await waitForSummary(db, next.id)).toMatchObject({ status: 'completed', succeeded_items: 2 });
      const { rows: [{ most }] } = await db.pool.query('select max(attempts) as most from app_public.batch_items where batch_id = $1', [batch.id]);
      expect(most).toBe(1);
      expect(process.exitCode()).toBeNull();
    } finally {
      await db.pool.query('drop trigger test_refuse_first_completion on graphile_worker._private_jobs');
    }
  });
});

describe('a worker pool whose first fetch of jobs met an outage', () => {
  test('is replaced, instead of living on without fetching another job', async () => {
    // Graphile Worker looks its task ids up on a pool's first fetch and keeps the failed promise
    // when that fails; here the database refuses the first lookup as a shutting-down server would.
    await db.pool.query(`
      create sequence public.test_task_lookup_faults;
      create function public.test_refuse_first_task_lookup() returns trigger language plpgsql as $$
      begin
        if nextval('public.test_task_lookup_faults') = 1 then
          raise exception 'terminating connection due to administrator command' using errcode = '57P01';
        end if;
        return null;
      end $$;
      create trigger test_refuse_first_task_lookup before insert on graphile_worker._private_tasks
        for each statement execute function public.test_refuse_first_task_lookup();`);
    try {
      const process = await worker();
      const batch = await submitBatch(db, tenant, 'noop', [{}, {}]);
      expect(await waitForSummary(db, batch.id, 30_000)).toMatchObject({ status: 'completed', succeeded_items: 2 });
      expect(process.output()).toContain('its job fetching is wedged on an error it keeps');
    } finally {
      await db.pool.query('drop trigger test_refuse_first_task_lookup on graphile_worker._private_tasks');
    }
  });
});

describe('a claim that committed while its connection broke', () => {
  test('is claimed again by its retry: the items run, on their first attempt, instead of staying processing', async () => {
    const cutter = await startConnectionCutter(db.url);
    try {
      await worker({ env: { DATABASE_URL: cutter.url } });
      // The only answer that carries an item's payload is the claim's.
      cutter.arm('cut-after-claim');
      const batch = await submitBatch(db, tenant, 'noop', Array.from({ length: 20 }, () => ({ tag: 'cut-after-claim' })));
      expect(await waitForSummary(db, batch.id, 30_000)).toMatchObject({ status: 'completed', succeeded_items: 20 });
      expect(cutter.cuts()).toBe(1);
      const { rows: [{ most }] } = await db.pool.query('select max(attempts) as most from app_public.batch_items where batch_id = $1', [batch.id]);
      expect(most).toBe(1);
    } finally {
      await Promise.all(workers.splice(0).map((started) => started.stop()));
      await cutter.close();
    }
  });
});

describe('a fetch of a job that committed while its connection broke', () => {
  test.each([
    ['a tenant without a limit', null],
    // Its chunks go to a named queue, which the fetch locks along with the job.
    ['a tenant with max_running_chunks 1', 1],
  ])('of %s: the worker\'s heartbeat gives the job back, and the batch finishes instead of waiting four hours for its lock to expire', async (name, limit) => {
    // What each completed job had spent, seen as Graphile Worker deletes it (in this test's database only).
    await db.pool.query(`
      create table if not exists public.test_completed_jobs (id bigint, attempts integer);
      create or replace function public.test_record_completed_job() returns trigger language plpgsql as $$
      begin
        insert into public.test_completed_jobs values (old.id, old.attempts);
        return old;
      end $$;
      create or replace trigger test_record_completed_job before delete on graphile_worker._private_jobs
        for each row execute function public.test_record_completed_job();`);
    const owner = await createTenant(db, `lost-fetch ${name}`);
    await db.pool.query('update app_public.tenants set max_running_chunks = $2 where id = $1', [owner, limit]);
    const batch = await submitBatch(db, owner, 'noop', Array.from({ length: 20 }, () => ({})));
    const { rows: [{ last }] } = await db.pool.query('select coalesce(max(id), 0) as last from app_private.sweeper_repairs');
    const cutter = await startConnectionCutter(db.url);
    try {
      // The worker starts after the batch is in: the only answer that carries the batch's id is
      // the fetch of its chunk's job, which locks the job for the worker in the same statement.
      cutter.arm(batch.id);
      const process = await worker({ env: { DATABASE_URL: cutter.url } });
      expect(await waitForSummary(db, batch.id, 20_000)).toMatchObject({ status: 'completed', succeeded_items: 20 });
      expect(cutter.cuts()).toBe(1);
      expect(process.output()).toContain('gave back jobs locked for this worker whose fetch was lost');
      const { rows: repairs } = await db.pool.query('select repair, details from app_private.sweeper_repairs where id > $1', [last]);
      expect(repairs).toEqual([{ repair: 'returned_lost_jobs', details: { jobs: [expect.any(Number)] } }]);
      // The job ran once, and completed on its first attempt: the lost fetch's was given back.
      // (Its completion commits after the batch's last outcome: it may come a moment later.)
      const completed = await waitFor(async () => {
        const { rows } = await db.pool.query('select attempts from public.test_completed_jobs where id = any($1::bigint[])', [repairs[0].details.jobs]);
        return rows.length > 0 && rows;
      }, { timeoutMs: 10_000, what: 'the job\'s completion' });
      expect(completed).toEqual([{ attempts: 1 }]);
      const { rows: [{ most }] } = await db.pool.query('select max(attempts) as most from app_public.batch_items where batch_id = $1', [batch.id]);
      expect(most).toBe(1);
    } finally {
      await Promise.all(workers.splice(0).map((started) => started.stop()));
      await cutter.close();
      await db.pool.query('drop trigger test_record_completed_job on graphile_worker._private_jobs');
    }
  });
});

describe('a finished batch whose summary job is locked by a worker that is gone', () => {
  test('names it in stuck_reason, and the next heartbeat of a live worker unlocks it: the summary is written', async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{}]);
    // Finish it by hand (no worker runs yet), then have its summary job locked by a pool that
    // left no heartbeat row: what a worker that removed itself without unlocking its jobs left.
    await db.pool.query(`update app_public.batch_items set status = 'processing', locked_by = 'by-hand', attempts = 1, started_at = now() where batch_id = $1`, [batch.id]);
    await db.pool.query(`update app_public.batch_items set status = 'succeeded', locked_by = null, finished_at = now() where batch_id = $1`, [batch.id]);
    await db.pool.query(`update graphile_worker._private_jobs set locked_by = 'pool-gone', locked_at = now() - interval '1 minute', attempts = 1
      where key = 'aggregate_batch:' || $1`, [batch.id]);
    expect(await statusOf(db, batch.id)).toMatchObject({ status: 'completed', has_summary: false, stuck_reason: 'summary_held_by_dead_worker' });
    const asked = await asTenant(db, tenant, async (client) => (await client.query('select state from app_public.request_batch_summary($1)', [batch.id])).rows[0].state);
    expect(asked).toBe('pending');

    await worker();
    const summarised = await waitForSummary(db, batch.id, 15_000);
    expect(summarised.stuck_reason).toBeNull();
    const { rows } = await db.pool.query(`select repair from app_private.sweeper_repairs where worker_id = 'pool-gone'`);
    expect(rows).toEqual([{ repair: 'removed_dead_worker' }]);
  });
});

describe('cancelling a batch', () => {
  test('aborts its running items: they end cancelled and the worker\'s slot is free at once', async () => {
    await worker({ concurrency: 1 });
    const slow = await submitBatch(db, tenant, 'noop', [{ sleep_ms: 900_000 }]);
    await waitFor(async () => (await statusOf(db, slow.id)).processing_items === 1, { what: 'the slow item to start' });
    const { rows: workers } = await db.pool.query('select processing_items from app_public.workers');
    expect(workers).toEqual([{ processing_items: '1' }]);
    await asTenant(db, tenant, (client) => client.query('select app_public.cancel_batch($1)', [slow.id]));
    const started = Date.now();
    // The only slot was the slow item's: a new batch runs only once the cancelled item stopped.
    const quick = await submitBatch(db, tenant, 'noop', [{}]);
    await waitForSummary(db, quick.id, 15_000);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await statusOf(db, slow.id)).toMatchObject({ status: 'cancelled', cancelled_items: 1, processing_items: 0 });
  });
});

describe('a worker killed with SIGKILL, default settings', () => {
  test('its items run on another worker within 10 s of its death, their attempts unspent', async () => {
    const doomed = await worker({ concurrency: 2 });
    const batch = await submitBatch(db, tenant, 'noop', Array.from({ length: 40 }, () => ({ sleep_ms: 30_000 })));
    await waitFor(async () => (await statusOf(db, batch.id)).processing_items > 0, { what: 'the first worker to hold items' });
    await worker({ concurrency: 2 });
    const held = await db.pool.query<{ id: string }>(`select id from app_public.batch_items where batch_id = $1 and status = 'processing'`, [batch.id]);
    const killedAt = Date.now();
    await doomed.kill();
    workers.splice(workers.indexOf(doomed), 1);
    const ids = held.rows.map((row) => row.id);
    await waitFor(() => runElsewhere(ids, doomed.pid), { timeoutMs: 20_000, intervalMs: 100, what: 'the killed worker\'s items to run elsewhere' });
    const seconds = (Date.now() - killedAt) / 1000;
    expect(seconds).toBeLessThan(10);
    const { rows } = await db.pool.query(`select max(attempts) as most, max(interruptions) as interrupted from app_public.batch_items where id = any($1::bigint[])`, [ids]);
    expect(rows[0]).toEqual({ most: 1, interrupted: 1 });
    await asTenant(db, tenant, (client) => client.query('select app_public.cancel_batch($1)', [batch.id]));
  });
});

describe('a worker whose machine vanished: not a packet in or out, then its process gone', () => {
  test('its items run on another worker within 20 s, instead of waiting hours for the database to drop its connections', async () => {
    const doomed = await worker({ concurrency: 2 });
    const batch = await submitBatch(db, tenant, 'noop', Array.from({ length: 40 }, () => ({ sleep_ms: 30_000 })));
    await waitFor(async () => (await statusOf(db, batch.id)).processing_items > 0, { what: 'the worker to hold items' });
    const held = await db.pool.query<{ id: string }>(`select id from app_public.batch_items where batch_id = $1 and status = 'processing'`, [batch.id]);
    // Every packet of its connections is dropped, as when a machine loses its power or its
    // network: the database hears neither the process's death nor anything else.
    const letThrough = await blackhole(db.pool, `datname = current_database() and application_name = 'finishline worker'`);
    try {
      await doomed.kill();
      workers.splice(workers.indexOf(doomed), 1);
      const vanishedAt = Date.now();
      await worker({ concurrency: 2 });
      const ids = held.rows.map((row) => row.id);
      await waitFor(() => runElsewhere(ids, doomed.pid), { timeoutMs: 40_000, intervalMs: 200, what: 'the vanished worker\'s items to run elsewhere' });
      expect((Date.now() - vanishedAt) / 1000).toBeLessThan(20);
      const { rows } = await db.pool.query('select max(attempts) as most from app_public.batch_items where id = any($1::bigint[])', [ids]);
      expect(rows[0]).toEqual({ most: 1 });
    } finally {
      await letThrough();
      await asTenant(db, tenant, (client) => client.query('select app_public.cancel_batch($1)', [batch.id]));
    }
  });
});

describe('a worker whose heartbeat comes due while it stops', () => {
  test('leaves no heartbeat behind, to be taken for a worker that died', async () => {
    // Giving back what it held takes a while (longer than a heartbeat's interval).
    await db.pool.query(`
      create function public.slow_forget() returns trigger language plpgsql as $$
      begin perform pg_sleep(1.5); return old; end $$;
      create trigger slow_forget before delete on app_private.workers for each row execute function public.slow_forget();`);
    try {
      const started = await worker();
      await started.stop();
      workers.splice(workers.indexOf(started), 1);
      const { rows } = await db.pool.query<{ id: string }>('select id from app_private.workers');
      expect(rows).toEqual([]);
    } finally {
      await db.pool.query('drop trigger slow_forget on app_private.workers; drop function public.slow_forget()');
    }
  });
});

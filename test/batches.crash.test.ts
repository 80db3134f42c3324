// Workers die: killed with SIGKILL mid-batch, or stopped with SIGTERM. No item is lost, none is
// left `processing`, and a dead worker's items run again within seconds, not Graphile Worker's
// four hours.
import { beforeAll, describe, expect, test } from 'vitest';
import { createTenant, startWorkerProcess, statusOf, submitBatch, useTestDatabase, waitFor, waitForSummary } from './helpers.ts';

// A worker counts as dead 2 s after its last heartbeat once its liveness connection is gone (5 s
// by default).
const db = useTestDatabase({ 'finishline.worker_stale_after': '2s' });
let tenant: string;

beforeAll(async () => {
  tenant = await createTenant(db);
  await db.pool.query(`update app_public.batch_kinds set chunk_size = 10 where kind = 'noop'`);
});

async function itemStatuses(batchId: string): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ status: string; n: number }>(
    'select status, count(*)::int as n from app_public.batch_items where batch_id = $1 group by status',
    [batchId],
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

describe('a worker killed with SIGKILL mid-batch', () => {
  test('loses no item: a new worker finishes them all within 90 s', async () => {
    const first = await startWorkerProcess(db, { concurrency: 2 });
    const batch = await submitBatch(db, tenant, 'noop', Array.from({ length: 60 }, () => ({ sleep_ms: 1000 })));
    // Its two chunks finish in step, so between two claims it may hold no item: freeze it, and
    // kill it only when it holds some (a statement it had already sent lands during the pause).
    let atCrash = await statusOf(db, batch.id);
    await waitFor(async () => {
      process.kill(first.pid, 'SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 250));
      atCrash = await statusOf(db, batch.id);
      if (atCrash.succeeded_items > 0 && atCrash.processing_items > 0) return true;
      process.kill(first.pid, 'SIGCONT');
      return false;
    }, { intervalMs: 200, what: 'the batch to be under way, with items held' });
    await first.kill();
    expect(await statusOf(db, batch.id)).toMatchObject({ processing_items: atCrash.processing_items, succeeded_items: atCrash.succeeded_items });
    // With nobody alive, the batch says why it does not move.
    await waitFor(async () => (await statusOf(db, batch.id)).stuck_reason === 'no_worker_alive', {
      what: 'stuck_reason no_worker_alive',
    });

    const started = Date.now();
    const second = await startWorkerProcess(db, { concurrency: 2 });
    const done = await waitForSummary(db, batch.id, 90_000);
    const recoverySeconds = (Date.now() - started) / 1000;
    await second.stop();

    expect(done).toMatchObject({ status: 'completed', succeeded_items: 60, failed_items: 0, processing_items: 0 });
    expect(recoverySeconds).toBeLessThan(90);
    expect(await itemStatuses(batch.id)).toEqual({ succeeded: 60 });
    // The items the dead worker held ran once more, their attempt given back: the worker died,
    // the items did not fail. Their interruption is counted instead.
    const { rows } = await db.pool.query('select attempts, interruptions, count(*)::int as n from app_public.batch_items where batch_id = $1 group by 1, 2 order by 2', [batch.id]);
    expect(rows).toEqual([
      { attempts: 1, interruptions: 0, n: 60 - atCrash.processing_items },
      { attempts: 1, interruptions: 1, n: atCrash.processing_items },
    ]);

    const { rows: repairs } = await db.pool.query(
      `select repair, details from app_private.sweeper_repairs where batch_id = $1 or repair = 'removed_dead_worker' order by id`,
      [batch.id],
    );
    expect(repairs.map((row) => row.repair)).toEqual(['released_items', 'removed_dead_worker']);
    expect(repairs[0].details).toEqual({ items: atCrash.processing_items });
  });
});

describe('a worker stopped with SIGTERM', () => {
  // SIGHUP too: its terminal closed (which would otherwise kill it on the spot, leaving its items
  // for the sweeper to find).
  test.each(['SIGTERM', 'SIGHUP'] as const)('%s: finishes the items it is running, then exits leaving nothing processing', async (signal) => {
    const worker = await startWorkerProcess(db, { concurrency: 2 });
    const batch = await submitBatch(db, tenant, 'noop', Array.from({ length: 40 }, () => ({ sleep_ms: 1500 })));
    await waitFor(async () => (await statusOf(db, batch.id)).processing_items > 0, { what: 'items to start' });

    expect(await worker.stop(signal)).toBe(0);
    const status = await statusOf(db, batch.id);
    expect(status.processing_items).toBe(0);
    expect(status.succeeded_items).toBeGreaterThan(0);
    expect(status.succeeded_items + status.pending_items).toBe(40);
    const { rows: workers } = await db.pool.query('select * from app_private.workers where pid = $1', [worker.pid]);
    expect(workers).toEqual([]);
    // Its locally queued jobs went back to the queue unlocked.
    const { rows: locked } = await db.pool.query('select count(*)::int as n from graphile_worker.jobs where locked_by is not null');
    expect(locked[0].n).toBe(0);

    const next = await startWorkerProcess(db, { concurrency: 2 });
    await waitForSummary(db, batch.id);
    await next.stop();
    const { rows } = await db.pool.query('select max(attempts) as most from app_public.batch_items where batch_id = $1', [batch.id]);
    expect(rows[0].most).toBe(1);
  });

  test('gives back, without spending an attempt, items that run past the shutdown timeout', async () => {
    const worker = await startWorkerProcess(db, { concurrency: 1 });
    const batch = await submitBatch(db, tenant, 'noop', Array.from({ length: 5 }, () => ({ sleep_ms: 600_000 })));
    await waitFor(async () => (await statusOf(db, batch.id)).processing_items === 5, { what: 'items to start' });

    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(await itemStatuses(batch.id)).toEqual({ pending: 5 });
    const { rows } = await db.pool.query('select attempts, last_error from app_public.batch_items where batch_id = $1', [batch.id]);
    expect(rows.every((row) => row.attempts === 0 && row.last_error === null)).toBe(true);
    const givenBack = [...worker.output().matchAll(/"msg":"gave back (\d+) interrupted items"/g)].reduce((sum, match) => sum + Number(match[1]), 0);
    expect(givenBack).toBe(5);
  }, 60_000);
});

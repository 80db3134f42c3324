// Fair share, with real workers: a small batch is not held behind a big one, tenants' equal
// batches submitted together finish together, a tenant's limit holds across workers, and a
// batch's priority orders it before others. Every batch is finalized once, as everywhere.
import { afterEach, describe, expect, test } from 'vitest';
import {
  asTenant, createTenant, startWorkerProcess, statusOf, submitBatch, useTestDatabase, waitFor, waitForSummary, type WorkerProcess,
} from './helpers.ts';

const db = useTestDatabase();
const workers: WorkerProcess[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.stop()));
});

async function worker(concurrency = 4) {
  const started = await startWorkerProcess(db, { concurrency });
  workers.push(started);
  return started;
}

const sleepItems = (count: number, sleepMs: number) => Array.from({ length: count }, () => ({ sleep_ms: sleepMs }));

async function finishedSeconds(batchId: string, since: Date): Promise<number> {
  const { rows: [row] } = await db.pool.query<{ seconds: number }>(
    'select extract(epoch from finished_at - $2::timestamptz)::float as seconds from app_public.batches where id = $1', [batchId, since]);
  return row.seconds;
}

async function summaries(batchIds: string[]): Promise<number[]> {
  const { rows } = await db.pool.query<{ n: number }>(
    'select (select count(*)::int from app_public.run_summaries s where s.batch_id = b.id) as n from unnest($1::uuid[]) as b(id)', [batchIds]);
  return rows.map((row) => row.n);
}

describe('a small batch beside a big one', () => {
  test("tenant B's 10 items, submitted while tenant A's 100,000 run, finish within 3 s", async () => {
    await worker();
    const [a, b] = [await createTenant(db, 'big-a'), await createTenant(db, 'small-b')];
    const big = await submitBatch(db, a, 'noop', sleepItems(100_000, 40));
    await waitFor(async () => (await statusOf(db, big.id)).processing_items > 0, { what: 'the big batch to run' });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const small = await submitBatch(db, b, 'noop', sleepItems(10, 40));
    const { rows: [{ created_at: submitted }] } = await db.pool.query('select created_at from app_public.batches where id = $1', [small.id]);
    await waitForSummary(db, small.id, 30_000);
    expect(await finishedSeconds(small.id, submitted)).toBeLessThan(3);
    // The big batch was still running: the small one did not merely come after it.
    expect((await statusOf(db, big.id)).finished_at).toBeNull();
    await asTenant(db, a, (client) => client.query('select app_public.cancel_batch($1)', [big.id]));
    await waitForSummary(db, big.id);
    expect(await summaries([small.id, big.id])).toEqual([1, 1]);
  }, 90_000);
});

describe('ten tenants', () => {
  test('equal batches submitted at once finish within 20% of each other', async () => {
    await worker();
    const tenants = await Promise.all(Array.from({ length: 10 }, (_, i) => createTenant(db, `equal-${i}`)));
    const start = new Date();
    const batches = [];
    for (const tenant of tenants) batches.push(await submitBatch(db, tenant, 'noop', sleepItems(5000, 20)));
    for (const batch of batches) await waitForSummary(db, batch.id, 60_000);
    const seconds = await Promise.all(batches.map((batch) => finishedSeconds(batch.id, start)));
    const [first, last] = [Math.min(...seconds), Math.max(...seconds)];
    expect(last - first, `finished after ${seconds.map((s) => s.toFixed(2)).join(', ')} s`).toBeLessThanOrEqual(0.2 * last);
    expect(await summaries(batches.map((batch) => batch.id))).toEqual(batches.map(() => 1));
  }, 90_000);

  test("a tenant's big and small batches, submitted together: the small one finishes first", async () => {
    await worker();
    const tenant = await createTenant(db, 'big-and-small');
    const big = await submitBatch(db, tenant, 'noop', sleepItems(10_000, 20));
    const small = await submitBatch(db, tenant, 'noop', sleepItems(1000, 20));
    await waitForSummary(db, big.id, 60_000);
    const [smallDone, bigDone] = await Promise.all([statusOf(db, small.id), statusOf(db, big.id)]);
    expect(smallDone.finished_at!.getTime()).toBeLessThan(bigDone.finished_at!.getTime());
  }, 90_000);
});

describe("a tenant's limit", () => {
  test('max_running_chunks 2 keeps the tenant at 2 running chunks while another tenant uses the rest', async () => {
    await worker(6);
    const [limited, other] = [await createTenant(db, 'limited'), await createTenant(db, 'unlimited')];
    await db.pool.query('update app_public.tenants set max_running_chunks = 2 where id = $1', [limited]);
    // Two batches of the limited tenant (so that one of them waits whole), one of the other.
    const limitedBatches = [await submitBatch(db, limited, 'noop', sleepItems(2000, 200)), await submitBatch(db, limited, 'noop', sleepItems(2000, 200))];
    const otherBatch = await submitBatch(db, other, 'noop', sleepItems(4000, 200));
    const running = { limited: 0, other: 0 };
    let waitingForLimit = false;
    const all = [...limitedBatches, otherBatch].map((batch) => batch.id);
    await waitFor(async () => {
      const { rows } = await db.pool.query<{ tenant_id: string; chunks: number }>(
        `select b.tenant_id, count(*)::int as chunks from app_private.chunk_jobs c
         join graphile_worker.jobs j on j.id = c.job_id join app_public.batches b on b.id = c.batch_id
         where j.locked_at is not null and b.id = any($1::uuid[]) group by b.tenant_id`, [all]);
      for (const row of rows) {
        const key = row.tenant_id === limited ? 'limited' : 'other';
        running[key] = Math.max(running[key], row.chunks);
      }
      const reasons = await Promise.all(limitedBatches.map(async (batch) => (await statusOf(db, batch.id)).stuck_reason));
      waitingForLimit ||= reasons.includes('waiting_for_tenant_limit');
      const statuses = await Promise.all(all.map((id) => statusOf(db, id)));
      return statuses.every((status) => status.finished_at && status.has_summary);
    }, { timeoutMs: 60_000, intervalMs: 100, what: 'the three batches to finish' });
    // Never more than its limit; the other tenant had the rest (and more once the limited one was done).
    expect(running.limited).toBe(2);
    expect(running.other).toBeGreaterThanOrEqual(4);
    expect(waitingForLimit).toBe(true);
    expect(await summaries(all)).toEqual([1, 1, 1]);
  }, 90_000);
});

describe('priorities', () => {
  test('a batch submitted with priority -1 runs before a waiting batch of priority 0', async () => {
    const tenant = await createTenant(db, 'priorities');
    // Both wait for a worker; the urgent one, submitted second, still goes first.
    const normal = await submitBatch(db, tenant, 'noop', sleepItems(2000, 20));
    const urgent = await asTenant(db, tenant, async (client) => (await client.query<{ id: string }>(
      `select id from app_public.submit_batch('noop', $1::jsonb, priority => -1::smallint)`, [JSON.stringify(sleepItems(2000, 20))])).rows[0]);
    await worker(1);
    await waitForSummary(db, normal.id, 60_000);
    const [urgentDone, normalDone] = await Promise.all([statusOf(db, urgent.id), statusOf(db, normal.id)]);
    expect(urgentDone.finished_at!.getTime()).toBeLessThan(normalDone.started_at!.getTime() + 1);
  }, 90_000);
});

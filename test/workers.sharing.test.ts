// Workers started to scale out share a batch: each takes only the chunks it can start, so three
// workers finish a batch of slow items close to a third of the time one would take.
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTenant, startWorkerProcess, submitBatch, useTestDatabase, waitForSummary, type WorkerProcess } from './helpers.ts';
import { startPostgresCluster } from './postgres_cluster.ts';

const db = useTestDatabase();
let tenant: string;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  tenant = await createTenant(db, 'sharing');
  // Default settings: 4 jobs at once per worker.
  workers.push(...(await Promise.all([1, 2, 3].map(() => startWorkerProcess(db)))));
});
afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
});

test('three workers share a batch of slow items: each runs chunks, and it finishes within 1.5x of the ideal time', async () => {
  const { rows: [kind] } = await db.pool.query<{ chunk_size: number }>(`select chunk_size from app_public.batch_kinds where kind = 'noop'`);
  // noop runs 50 items of a chunk at once: 12 chunks of 500 one-second items, 10 s each, and
  // exactly one round of the three workers' twelve slots.
  const lanesPerChunk = 50;
  const slots = 3 * 4;
  const items = slots * kind.chunk_size;
  const itemSeconds = 1;
  const idealSeconds = (items * itemSeconds) / (slots * lanesPerChunk);

  const batch = await submitBatch(db, tenant, 'noop', Array.from({ length: items }, () => ({ sleep_ms: itemSeconds * 1000 })));
  // Who holds items, sampled while the batch runs: every worker must have run some.
  const holders = new Set<string>();
  let sampling = true;
  const sampled = (async () => {
    while (sampling) {
      const { rows } = await db.pool.query<{ pid: number }>(
        `select distinct w.pid from app_public.batch_items i join app_private.workers w on w.id = i.locked_by
         where i.batch_id = $1 and i.status = 'processing'`, [batch.id]);
      for (const row of rows) holders.add(String(row.pid));
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  try {
    await waitForSummary(db, batch.id, 120_000);
  } finally {
    sampling = false;
    await sampled;
  }
  const { rows: [timing] } = await db.pool.query<{ seconds: number; succeeded: number }>(
    `select extract(epoch from b.finished_at - b.created_at)::float as seconds, s.succeeded_items::int as succeeded
     from app_public.batches b join app_public.batch_status_summary s on s.batch_id = b.id where b.id = $1`, [batch.id]);
  expect(timing.succeeded).toBe(items);
  expect([...holders].sort()).toEqual(workers.map((worker) => String(worker.pid)).sort());
  expect(timing.seconds).toBeLessThan(idealSeconds * 1.5);
}, 180_000);

// Each slot of a worker may hold a connection (two during an import), and an idle worker's slots
// take them as they look for jobs: more slots than the database has connections left locks out
// everyone else, which the worker says as it starts.
test('a worker with more slots than the database has connections for says so as it starts, with what to change', async () => {
  const cluster = await startPostgresCluster({ like: process.env.TEST_DATABASE_URL, settings: { max_connections: '20' } });
  const pool = new pg.Pool({ connectionString: cluster.url(), max: 1 });
  try {
    const worker = await startWorkerProcess({ name: 'finishline', url: cluster.url(), pool }, { concurrency: 8 });
    const warning = worker.output().split('\n').filter((line) => line.includes('connections, more than')).map((line) => JSON.parse(line));
    expect(warning).toEqual([expect.objectContaining({
      level: 'warning',
      msg: expect.stringMatching(/^the worker may open 20 connections, more than the \d+ the database has left: lower WORKER_CONCURRENCY or raise max_connections$/),
      worker_concurrency: 8, max_connections_for_users: 17,
    })]);
    await worker.stop();
  } finally {
    await pool.end();
    await cluster.remove();
  }
});

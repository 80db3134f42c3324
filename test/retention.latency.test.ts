// A prune of 200,000 items while a worker runs another batch holds that batch up for no more than
// 100 ms. This file runs alone, after all the others (vitest.config.ts): the gaps it measures are
// then the prune's, not those of the suite's other files sharing the machine.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ageBatch,
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
import { finishGaps, watchPrune } from './prune_watch.ts';

const db = useTestDatabase();
let tenant: string;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  tenant = await createTenant(db);
});
afterAll(() => worker?.stop());

describe('a prune of 200,000 items while a worker runs another batch', () => {
  test('never holds that batch up: nothing waits on the prune, and no gap between its items grows 100 ms past its usual worst', async () => {
    worker = await startWorkerProcess(db, { concurrency: 4 });
    // 200,000 finished items (four batches), summarised by the worker, then made 40 days old.
    const old: string[] = [];
    for (let n = 0; n < 4; n++) {
      const client = await db.pool.connect();
      try {
        await client.query('begin');
        const { rows } = await client.query(`insert into app_public.batches (tenant_id, kind) values ($1, 'noop') returning id`, [tenant]);
        await client.query(
          `insert into app_public.batch_items (batch_id, tenant_id, payload, status, attempts, result, started_at, finished_at)
           select $1, $2, jsonb_build_object('n', i, 'note', repeat('x', 100)), 'succeeded', 1, '{"slept_ms": 0}', now(), now()
           from generate_series(1, 50000) i`,
          [rows[0].id, tenant]);
        await client.query('commit');
        old.push(rows[0].id);
      } finally {
        client.release();
      }
    }
    for (const id of old) await waitForSummary(db, id, 60_000);
    for (const id of old) await ageBatch(db, id, 40);

    // The running batch: one item per job, so that every item is claimed and recorded in
    // transactions of its own, as many of them as the prune's.
    await db.pool.query(`insert into app_public.batch_kinds (kind, description, task_identifier, chunk_size, max_attempts)
      values ('one_at_a_time', 'noop, one item per job', 'noop', 1, 3)`);
    const running = await submitBatch(db, tenant, 'one_at_a_time', Array.from({ length: 8000 }, () => ({ sleep_ms: 20 })));
    await waitFor(async () => (await statusOf(db, running.id)).succeeded_items >= 200, { what: 'the running batch to get going' });

    // Whether the prune (or its vacuum) runs, and whether any backend waits on its locks.
    const watch = await watchPrune(db.pool);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    await pruneNow(db, 120_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const window = await watch.stop();
    await db.pool.query('select app_public.cancel_batch($1)', [running.id]);

    const { rows: [left] } = await db.pool.query('select count(*)::int as n from app_public.batch_items where batch_id = any($1)', [old]);
    expect(left.n).toBe(0);
    expect(window).not.toBeNull();
    const { from, to, lockWaits } = window!;
    expect(lockWaits).toBe(0);

    // Gaps between consecutive item finishes of the running batch, before and during the prune.
    const gaps = (inWindow: (at: number) => boolean) => finishGaps(db.pool, running.id, inWindow);
    const before = await gaps((at) => at < from && at > from - 5000);
    const inPrune = await gaps((at) => at >= from && at <= to + 100);
    // The batch's own cadence on this machine, jitter included: its worst gap in the 5 s before.
    const usual = before.at(-1)!;
    const worst = inPrune.at(-1)!;
    console.log(JSON.stringify({ prune_ms: to - from, items_pruned: 200_000, items_finished_before_per_s: before.length / 5,
      items_finished_during_per_s: Math.round(inPrune.length / ((to - from) / 1000)), worst_gap_before_ms: Math.round(usual), worst_gap_during_ms: Math.round(worst) }));
    expect(inPrune.length).toBeGreaterThan(10);
    // The prune holds the batch up by less than 100 ms: no gap during it is that much longer than
    // the worst before. (A lock or a truncating vacuum would stall it for seconds.)
    expect(worst).toBeLessThan(usual + 100);
  }, 240_000);
});

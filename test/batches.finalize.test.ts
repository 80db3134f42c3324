// Finalization is state-driven: the transaction that finishes a batch's last item finalizes it,
// exactly once, even when workers race on the last items.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTenant, startWorkerProcess, statusOf, submitBatch, useTestDatabase, waitFor, waitForSummary, type WorkerProcess } from './helpers.ts';

const db = useTestDatabase();
let tenant: string;

beforeAll(async () => {
  tenant = await createTenant(db);
  // Observers, in this test database only: every status change of a batch, every summary write.
  await db.pool.query(`
    create table public.observed_batch_statuses (batch_id uuid, status text, at timestamptz default clock_timestamp());
    create function public.observe_batch_status() returns trigger language plpgsql as $$
    begin insert into public.observed_batch_statuses (batch_id, status) values (new.id, new.status); return null; end $$;
    create trigger observe after update of status on app_public.batches for each row execute function public.observe_batch_status();
    create table public.observed_summary_writes (batch_id uuid);
    create function public.observe_summary_write() returns trigger language plpgsql as $$
    begin insert into public.observed_summary_writes values (new.batch_id); return null; end $$;
    create trigger observe after insert or update on app_public.run_summaries for each row execute function public.observe_summary_write();
    create table public.observed_claims (item_id bigint, worker_id text);
    create function public.observe_claim() returns trigger language plpgsql as $$
    begin insert into public.observed_claims values (new.id, new.locked_by); return null; end $$;
    create trigger observe after update of status on app_public.batch_items for each row
      when (new.status = 'processing') execute function public.observe_claim();
  `);
});

describe('a batch whose last item finishes while the worker then sits idle', () => {
  let worker: WorkerProcess;
  beforeAll(async () => (worker = await startWorkerProcess(db)));
  afterAll(() => worker.stop());

  test('is finalized by the transaction that finished that item', async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{}, { sleep_ms: 200 }, { sleep_ms: 400 }]);
    await waitForSummary(db, batch.id);
    const { rows } = await db.pool.query(
      `select b.status, b.finished_at, max(i.finished_at) as last_item_finished_at
       from app_public.batches b join app_public.batch_items i on i.batch_id = b.id
       where b.id = $1 group by b.id`,
      [batch.id],
    );
    expect(rows[0].status).toBe('completed');
    // now() is the transaction's start time: equal timestamps mean one transaction did both.
    expect(rows[0].finished_at).toEqual(rows[0].last_item_finished_at);
    // Nothing was left for a later job to notice: the queue empties. (The summary's job row goes
    // just after the summary's commit; the crontab's sweeper may come and go at any minute.)
    await waitFor(
      async () => (await db.pool.query(`select count(*)::int as n from graphile_worker.jobs where task_identifier <> 'sweep_batches'`)).rows[0].n === 0,
      { timeoutMs: 5000, what: 'an empty queue' },
    );
  });
});

describe('two workers racing on the last items', () => {
  test('finalize each batch once and write one summary', async () => {
    // Small chunks, so that each batch's chunks run on both workers at the same moment.
    await db.pool.query(`update app_public.batch_kinds set chunk_size = 5 where kind = 'noop'`);
    const workers = [await startWorkerProcess(db, { concurrency: 8 }), await startWorkerProcess(db, { concurrency: 8 })];
    const batches = await Promise.all(
      Array.from({ length: 30 }, () => submitBatch(db, tenant, 'noop', Array.from({ length: 100 }, () => ({ sleep_ms: 5 })))),
    );
    const ids = batches.map((batch) => batch.id);
    await waitFor(
      async () => {
        const { rows } = await db.pool.query('select count(*)::int as n from app_public.run_summaries where batch_id = any($1)', [ids]);
        return rows[0].n === ids.length;
      },
      { timeoutMs: 60_000, what: 'every batch to be summarised' },
    );
    await Promise.all(workers.map((worker) => worker.stop()));

    const { rows: finalizations } = await db.pool.query(
      `select batch_id, count(*)::int as n from public.observed_batch_statuses
       where batch_id = any($1) and status = 'completed' group by batch_id`,
      [ids],
    );
    expect(finalizations).toHaveLength(ids.length);
    expect(finalizations.every((row) => row.n === 1)).toBe(true);

    const { rows: writes } = await db.pool.query(
      'select batch_id, count(*)::int as n from public.observed_summary_writes where batch_id = any($1) group by batch_id',
      [ids],
    );
    expect(writes).toHaveLength(ids.length);
    expect(writes.every((row) => row.n === 1)).toBe(true);

    // Every item ran exactly once, and both workers took part.
    const { rows: items } = await db.pool.query(
      `select count(*)::int as n, sum(attempts)::int as attempts,
              count(*) filter (where status = 'succeeded')::int as succeeded
       from app_public.batch_items where batch_id = any($1)`,
      [ids],
    );
    expect(items[0]).toMatchObject({ n: 3000, attempts: 3000, succeeded: 3000 });
    const { rows: summaries } = await db.pool.query(
      'select sum(succeeded_items)::int as succeeded from app_public.run_summaries where batch_id = any($1)',
      [ids],
    );
    expect(summaries[0].succeeded).toBe(3000);
    const { rows: claims } = await db.pool.query(
      `select count(distinct worker_id)::int as workers, count(*)::int as claims from public.observed_claims c
       join app_public.batch_items i on i.id = c.item_id where i.batch_id = any($1)`,
      [ids],
    );
    expect(claims[0]).toEqual({ workers: 2, claims: 3000 });
  });
});

describe('the last items of a batch finished by transactions that cannot see each other', () => {
  /** A connection whose counter slot no other in `taken` has. */
  async function connectionWithOwnSlot(taken: Set<number>): Promise<pg.Client> {
    for (;;) {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows: [{ slot }] } = await client.query<{ slot: number }>('select app_private.counter_slot() as slot');
      if (!taken.has(slot)) {
        taken.add(slot);
        return client;
      }
      await client.end();
    }
  }

  /**
   * A batch of three items. Two sessions, A and B, each finish one while the third is still
   * pending, so both go for the batch's row in share mode; a third session holds that row until it
   * has finished the third item. A and B then each see the other's item unfinished, and only
   * running items left: neither may finalize, so each enqueues finalize_batch and names the batch
   * to its caller. (Their counter slots and job inserts are slowed down so that both hold the row
   * before either reads the counters, and neither commits before the other has read them.)
   */
  async function finishTheLastTwoAtOnce(batchId: string): Promise<Array<{ recorded: number; batch_to_finalize: string | null }>> {
    const slots = new Set<number>();
    const [a, b] = [await connectionWithOwnSlot(slots), await connectionWithOwnSlot(slots)];
    const holder = await db.pool.connect();
    try {
      const { rows: items } = await db.pool.query<{ id: string }>('select id from app_public.batch_items where batch_id = $1 order by id', [batchId]);
      const outcome = (id: string) => JSON.stringify([{ id, error: null, result: null, permanent: false }]);
      await a.query('select app_private.start_items($1, $2::bigint[], $3)', [batchId, [items[0].id], 'racer-a']);
      await b.query('select app_private.start_items($1, $2::bigint[], $3)', [batchId, [items[1].id], 'racer-b']);
      await db.pool.query(`
        create function public.slow_down() returns trigger language plpgsql as $$ begin perform pg_sleep(tg_argv[0]::float); return new; end $$;
        create trigger slow_down before insert or update on app_private.batch_counter_slots for each row execute function public.slow_down(0.5);
        create trigger slow_down before insert on graphile_worker._private_jobs for each row execute function public.slow_down(1);`);
      await holder.query('begin');
      await holder.query('select 1 from app_public.batches where id = $1 for no key update', [batchId]);
      const finishing = [a.query('select * from app_private.finish_items($1, $2::jsonb)', ['racer-a', outcome(items[0].id)]),
        b.query('select * from app_private.finish_items($1, $2::jsonb)', ['racer-b', outcome(items[1].id)])];
      const pids = [a, b].map((client) => (client as unknown as { processID: number }).processID);
      await waitFor(async () => {
        const { rows } = await db.pool.query(`select count(*)::int as n from pg_stat_activity where pid = any($1) and wait_event_type = 'Lock'`, [pids]);
        return rows[0].n === 2;
      }, { what: 'both to wait for the batch' });
      await holder.query('select app_private.start_items($1, $2::bigint[], $3)', [batchId, [items[2].id], 'holder']);
      await holder.query('select app_private.finish_items($1, $2::jsonb)', ['holder', outcome(items[2].id)]);
      await holder.query('commit');
      return (await Promise.all(finishing)).map(({ rows }) => rows[0]);
    } finally {
      holder.release();
      await Promise.all([a.end(), b.end()]);
      await db.pool.query(`
        drop trigger if exists slow_down on app_private.batch_counter_slots;
        drop trigger if exists slow_down on graphile_worker._private_jobs;
        drop function if exists public.slow_down();`);
    }
  }

  test('leave it to finalize_batch, which finalizes it once', async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{}, {}, {}]);
    expect(await finishTheLastTwoAtOnce(batch.id)).toEqual([{ recorded: 1, batch_to_finalize: batch.id }, { recorded: 1, batch_to_finalize: batch.id }]);
    expect(await statusOf(db, batch.id)).toMatchObject({ status: 'processing', succeeded_items: 3, pending_items: 0, processing_items: 0 });
    const { rows: jobs } = await db.pool.query(`select task_identifier from graphile_worker.jobs where key = $1`, [`finalize_batch:${batch.id}`]);
    expect(jobs).toEqual([{ task_identifier: 'finalize_batch' }]);

    const worker = await startWorkerProcess(db);
    try {
      expect(await waitForSummary(db, batch.id)).toMatchObject({ status: 'completed', succeeded_items: 3 });
    } finally {
      await worker.stop();
    }
    const { rows: [finalizations] } = await db.pool.query(
      `select count(*)::int as n from public.observed_batch_statuses where batch_id = $1 and status = 'completed'`, [batch.id]);
    expect(finalizations.n).toBe(1);
  });

  test('with that job lost, are finalized by the sweeper, which logs it', async () => {
    const batch = await submitBatch(db, tenant, 'noop', [{}, {}, {}]);
    await finishTheLastTwoAtOnce(batch.id);
    await db.pool.query('select graphile_worker.remove_job($1)', [`finalize_batch:${batch.id}`]);
    await db.pool.query('select app_private.sweep_batches()');
    expect(await statusOf(db, batch.id)).toMatchObject({ status: 'completed', succeeded_items: 3 });
    const { rows: repairs } = await db.pool.query('select repair, details from app_private.sweeper_repairs where batch_id = $1', [batch.id]);
    expect(repairs).toEqual([{ repair: 'settled_batch', details: { found: 'processing', status: 'completed' } }]);
  });
});

describe('four worker processes hammering one batch with chunks of one item', () => {
  test('finalize it once, write one summary, and run every item once', async () => {
    // One item a job: every item's outcome is a transaction on the batch's counters, from forty
    // slots at once, and any of them may be the last.
    await db.pool.query(`update app_public.batch_kinds set chunk_size = 1 where kind = 'noop'`);
    const workers = await Promise.all([1, 2, 3, 4].map(() => startWorkerProcess(db, { concurrency: 10 })));
    const items = 1000;
    const batch = await submitBatch(db, tenant, 'noop', Array.from({ length: items }, () => ({})));
    try {
      await waitForSummary(db, batch.id, 120_000);
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
    }

    const { rows: finalizations } = await db.pool.query(
      `select count(*)::int as n from public.observed_batch_statuses where batch_id = $1 and status = 'completed'`, [batch.id]);
    expect(finalizations[0].n).toBe(1);
    const { rows: writes } = await db.pool.query('select count(*)::int as n from public.observed_summary_writes where batch_id = $1', [batch.id]);
    expect(writes[0].n).toBe(1);
    const { rows: [counted] } = await db.pool.query(
      `select count(*)::int as n, sum(attempts)::int as attempts, count(*) filter (where status = 'succeeded')::int as succeeded
       from app_public.batch_items where batch_id = $1`, [batch.id]);
    expect(counted).toEqual({ n: items, attempts: items, succeeded: items });
    const { rows: [summary] } = await db.pool.query('select succeeded_items::int as succeeded from app_public.run_summaries where batch_id = $1', [batch.id]);
    expect(summary.succeeded).toBe(items);
    const { rows: [claims] } = await db.pool.query(
      `select count(distinct c.worker_id)::int as workers, count(*)::int as claims from public.observed_claims c
       join app_public.batch_items i on i.id = c.item_id where i.batch_id = $1`, [batch.id]);
    // Worker ids name Graphile Worker pools; each process runs one at a time.
    expect(claims.claims).toBe(items);
    expect(claims.workers).toBeGreaterThanOrEqual(4);
  }, 180_000);
});

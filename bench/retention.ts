// bench:retention: a simulated month of batches, pruned daily, on a database of its own.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:retention
//   BENCH_DAYS=10 BENCH_ITEMS_PER_DAY=10000 npm run bench:retention      # a quick run
//
// Each simulated day, BENCH_BATCHES_PER_DAY (10) `noop` batches of BENCH_ITEMS_PER_DAY (100,000)
// items in all are inserted in SQL and run by a real `finishline worker` (WORKER_CONCURRENCY=4,
// ITEM_RETENTION_DAYS=BENCH_RETENTION_DAYS, 7; BATCH_RETENTION_DAYS=BENCH_BATCH_RETENTION_DAYS,
// 14) to their summaries; then the day ends: every timestamp that retention reads moves one day
// into the past (batches' created_at, started_at, finished_at, items_pruned_at; the sweeper's
// log), and the crontab's task runs as a `prune_finished_batches` job that the worker picks up.
// While it runs, a batch of `noop` items of 20 ms, one item per job, runs on the same worker, and
// every 10 ms a sampler asks whether any backend waits on a lock that the prune holds.
//
// Measured each day, after the prune: pg_total_relation_size of batch_items (and its heap and
// indexes apart), batches, batch_counter_slots and run_summaries; the rows the prune removed and how
// long it took (the task's log line: the deletes, then the vacuum). The steady state begins on day
// retention + 1, the first day whose prune removes a day of items: its sizes are compared with day
// 30's (the issue's target: within 1.5x). Day 1 holds one day of items where the steady state
// holds `retention`, so its sizes are reported, not compared. The stall figure is the running
// batch's longest gap between two item finishes during a prune, beside its longest in the 3 s
// before (the machine's own jitter). Human-readable lines first; the last line is one JSON object.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { startFinishline, waitFor, type FinishlineProcess } from '../test/processes.ts';
import { finishGaps, watchPrune } from '../test/prune_watch.ts';
import { keepOutput, openBenchDatabase, PHASE_TIMEOUT_MS, positiveIntegerFromEnv, runBench, stillRunning, within } from './support.ts';

const DAYS = positiveIntegerFromEnv('BENCH_DAYS', 30);
const ITEMS_PER_DAY = positiveIntegerFromEnv('BENCH_ITEMS_PER_DAY', 100_000);
const BATCHES_PER_DAY = positiveIntegerFromEnv('BENCH_BATCHES_PER_DAY', 10);
const RETENTION_DAYS = positiveIntegerFromEnv('BENCH_RETENTION_DAYS', 7);
const BATCH_RETENTION_DAYS = positiveIntegerFromEnv('BENCH_BATCH_RETENTION_DAYS', 14);
const STALL_ITEM_SLEEP_MS = 20;

interface Sizes {
  batch_items: number;
  batch_items_heap: number;
  batch_items_indexes: number;
  batches: number;
  batch_counter_slots: number;
  run_summaries: number;
  items: number;
}

interface Day {
  day: number;
  /** After the day's batches ran, before its prune. */
  before: Sizes;
  /** After the prune and its vacuum. */
  after: Sizes;
  removed: Record<string, number>;
  prune_seconds: number;
  vacuum_seconds: number;
  worst_gap_before_ms: number;
  worst_gap_during_ms: number;
  lock_waits: number;
}

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024 * 10) / 10;

async function sizes(pool: pg.Pool): Promise<Sizes> {
  const { rows: [row] } = await pool.query(`select
      pg_total_relation_size('app_public.batch_items') as batch_items,
      pg_table_size('app_public.batch_items') as batch_items_heap,
      pg_indexes_size('app_public.batch_items') as batch_items_indexes,
      pg_total_relation_size('app_public.batches') as batches,
      pg_total_relation_size('app_private.batch_counter_slots') as batch_counter_slots,
      pg_total_relation_size('app_public.run_summaries') as run_summaries,
      (select count(*) from app_public.batch_items) as items`);
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [key, Number(value)])) as unknown as Sizes;
}

/** The day's work: its batches inserted in SQL (each in its own transaction), run by the worker. */
async function runDay(pool: pg.Pool, tenantId: string, worker: FinishlineProcess): Promise<void> {
  const ids: string[] = [];
  const perBatch = Math.ceil(ITEMS_PER_DAY / BATCHES_PER_DAY);
  for (let n = 0; n < BATCHES_PER_DAY; n++) {
    const client = await pool.connect();
    try {
      await client.query('begin');
      const { rows } = await client.query(`insert into app_public.batches (tenant_id, kind) values ($1, 'noop') returning id`, [tenantId]);
      await client.query(
        `insert into app_public.batch_items (batch_id, tenant_id, payload)
         select $1, $2, jsonb_build_object('n', i, 'note', md5(i::text)) from generate_series(1, $3) i`,
        [rows[0].id, tenantId, perBatch]);
      await client.query('commit');
      ids.push(rows[0].id);
    } finally {
      client.release();
    }
  }
  await waitFor(async () => (await pool.query(
    'select count(*)::int as n from app_public.batch_status_summary where batch_id = any($1) and has_summary', [ids])).rows[0].n === ids.length,
  { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: 200, what: 'the day\'s batches to finish', stillRunning: stillRunning(worker) });
}

/** Everything retention reads moves one day into the past. */
async function endDay(pool: pg.Pool): Promise<void> {
  await pool.query(`update app_public.batches set created_at = created_at - interval '1 day', started_at = started_at - interval '1 day',
    finished_at = finished_at - interval '1 day', items_pruned_at = items_pruned_at - interval '1 day' where finished_at is not null`);
  await pool.query(`update app_private.sweeper_repairs set repaired_at = repaired_at - interval '1 day'`);
}

/** The prune, as the crontab runs it, beside a running batch: its gaps and any lock waits. */
async function pruneBesideARunningBatch(pool: pg.Pool, tenantId: string, worker: FinishlineProcess) {
  const client = await pool.connect();
  let running: string;
  try {
    await client.query('begin');
    await client.query(`select set_config('role', 'app_user', true), set_config('jwt.claims.tenant_id', $1, true)`, [tenantId]);
    ({ rows: [{ id: running }] } = await client.query(
      `select id from app_public.submit_batch('one_at_a_time', (select jsonb_agg(jsonb_build_object('sleep_ms', $1::int)) from generate_series(1, 4000)))`,
      [STALL_ITEM_SLEEP_MS]));
    await client.query('commit');
  } finally {
    client.release();
  }
  await waitFor(async () => (await pool.query('select succeeded_items from app_public.batch_status_summary where batch_id = $1', [running])).rows[0].succeeded_items >= 100,
    { timeoutMs: 60_000, what: 'the running batch to get going', stillRunning: stillRunning(worker) });

  const watch = await watchPrune(pool);
  await sleep(3000);
  const logged = worker.output().length;
  const { rows: [job] } = await pool.query(`select id from graphile_worker.add_job('prune_finished_batches', '{}')`);
  await waitFor(async () => (await pool.query('select 1 from graphile_worker.jobs where id = $1', [job.id])).rowCount === 0,
    { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: 100, what: 'the prune to finish', stillRunning: stillRunning(worker) });
  await sleep(300);
  const window = await watch.stop();
  await pool.query('select app_public.cancel_batch($1)', [running]);

  const line = worker.output().slice(logged).split('\n').find((text) => text.includes('"pruned finished batches"'));
  if (!line) throw new Error('the prune task logged no "pruned finished batches" line');
  const log = JSON.parse(line) as { removed: Record<string, number>; prune_seconds: number; vacuum_seconds: number };

  const from = window?.from ?? Infinity;
  const to = window?.to ?? -Infinity;
  const worstGap = async (inWindow: (at: number) => boolean) => Math.round((await finishGaps(pool, running, inWindow)).at(-1) ?? 0);
  return {
    ...log,
    worst_gap_before_ms: await worstGap((at) => at < from && at > from - 3000),
    worst_gap_during_ms: await worstGap((at) => at >= from && at <= to + 100),
    lock_waits: window?.lockWaits ?? 0,
  };
}

runBench('bench:retention', async () => {
  const bench = await openBenchDatabase('retention');
  const pool = new pg.Pool({ connectionString: bench.url, max: 4 });
  bench.onCleanup(() => pool.end());
  const { rows: [{ id: tenantId }] } = await pool.query(`insert into app_public.tenants (name) values ('retention') returning id`);
  await pool.query(`insert into app_public.batch_kinds (kind, description, task_identifier, chunk_size, max_attempts)
    values ('one_at_a_time', 'noop, one item per job: the batch that runs beside the prune', 'noop', 1, 3)`);
  const worker = await startFinishline('worker', {
    DATABASE_URL: bench.url, WORKER_CONCURRENCY: '4', LOG_LEVEL: 'info',
    ITEM_RETENTION_DAYS: String(RETENTION_DAYS), BATCH_RETENTION_DAYS: String(BATCH_RETENTION_DAYS),
  }, { ready: async () => ((await pool.query('select 1 from app_private.workers')).rowCount ?? 0) > 0 });
  keepOutput('finishline worker', worker);
  // The worker's start runs a prune the crontab missed (fill=1d): let it finish on the empty tables.
  await sleep(2000);

  const days: Day[] = [];
  for (let day = 1; day <= DAYS; day++) {
    await within(`day ${day}'s batches`, runDay(pool, tenantId, worker));
    const before = await sizes(pool);
    await endDay(pool);
    const pruned = await within(`day ${day}'s prune`, pruneBesideARunningBatch(pool, tenantId, worker));
    const after = await sizes(pool);
    days.push({ day, before, after, ...pruned });
    process.stderr.write(`day ${day}: batch_items ${mb(before.batch_items)} MB before the prune, ${mb(after.batch_items)} MB after `
      + `(${after.items} items); removed ${pruned.removed.items ?? 0} items, ${pruned.removed.batches ?? 0} batches in ${pruned.prune_seconds} s `
      + `(+ vacuum ${pruned.vacuum_seconds} s); running batch's worst gap ${pruned.worst_gap_during_ms} ms during, `
      + `${pruned.worst_gap_before_ms} ms before; lock waits ${pruned.lock_waits}\n`);
  }

  // Items reach their steady state on day retention + 1; batches, counters and summaries on day
  // batch retention + 1 (or not within the run).
  const steady = days[Math.min(RETENTION_DAYS, days.length - 1)];
  const steadyBatches = days[Math.min(BATCH_RETENTION_DAYS, days.length - 1)];
  const last = days.at(-1)!;
  const pruning = days.filter((d) => (d.removed.items ?? 0) > 0);
  const ratio = (key: keyof Sizes, from = steady) => Math.round(last.after[key] / from.after[key] * 100) / 100;
  return {
    benchmark: 'retention',
    server_version: bench.serverVersion,
    days: DAYS, items_per_day: ITEMS_PER_DAY, batches_per_day: BATCHES_PER_DAY,
    item_retention_days: RETENTION_DAYS, batch_retention_days: BATCH_RETENTION_DAYS,
    steady_state_day: steady.day,
    day_1_mb: Object.fromEntries(Object.entries(days[0].after).filter(([key]) => key !== 'items').map(([key, value]) => [key, mb(value)])),
    steady_state_day_mb: Object.fromEntries(Object.entries(steady.after).filter(([key]) => key !== 'items').map(([key, value]) => [key, mb(value)])),
    last_day_mb: Object.fromEntries(Object.entries(last.after).filter(([key]) => key !== 'items').map(([key, value]) => [key, mb(value)])),
    last_day_over_steady_state: {
      batch_items: ratio('batch_items'), batch_items_heap: ratio('batch_items_heap'), batch_items_indexes: ratio('batch_items_indexes'),
    },
    batches_steady_state_day: steadyBatches.day,
    last_day_over_batches_steady_state: {
      batches: ratio('batches', steadyBatches), batch_counter_slots: ratio('batch_counter_slots', steadyBatches), run_summaries: ratio('run_summaries', steadyBatches),
    },
    peak_batch_items_mb_steady_state_day: mb(steady.before.batch_items),
    peak_batch_items_mb_last_day: mb(last.before.batch_items),
    items_kept_last_day: last.after.items,
    prune_items_per_s: pruning.length
      ? Math.round(pruning.reduce((sum, d) => sum + d.removed.items, 0) / pruning.reduce((sum, d) => sum + d.prune_seconds, 0))
      : null,
    prune_seconds_max: Math.max(...days.map((d) => d.prune_seconds)),
    vacuum_seconds_max: Math.max(...days.map((d) => d.vacuum_seconds)),
    batches_removed: days.reduce((sum, d) => sum + (d.removed.batches ?? 0), 0),
    worst_gap_during_prune_ms: Math.max(...days.map((d) => d.worst_gap_during_ms)),
    worst_gap_before_prune_ms: Math.max(...days.map((d) => d.worst_gap_before_ms)),
    lock_waits_on_prune: days.reduce((sum, d) => sum + d.lock_waits, 0),
  };
});

// bench:fairness (issue #23): does a tenant's small batch get through while another tenant's big
// batch runs, and what does letting it through cost the big one?
//
//   npm run bench:fairness                                 # embedded PostgreSQL in a temporary directory
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:fairness
//   BENCH_BIG_ITEMS=100000 BENCH_SMALL_BATCHES=4 npm run bench:fairness  # a quick run (~1 minute)
//
// One `finishline worker` at default settings (WORKER_CONCURRENCY 4: 4 chunk jobs of 500 `noop`
// items, 50 of them at once, so 200 items run at a time) runs tenant A's big batch of
// BENCH_BIG_ITEMS items (1,000,000; sleep_ms 40 each, inserted as plain SQL by the owner). Once it
// has run for WARMUP_MS, its time is cut into phases of PHASE_MS, taken in pairs: in the first of
// a pair, tenant B submits SMALL_PER_PHASE batches of 10 items (sleep_ms 40), as the tenant
// (submit_batch), one every PHASE_MS / SMALL_PER_PHASE; the second is left alone. So the cost is
// measured within one run, against the phases right beside: whatever else the machine does (2
// cores, shared) weighs on both sides alike, which comparing whole runs does not do.
//
// Small batches: seconds from submission to finished, both database timestamps (batches.created_at,
// the submitting transaction's start, and finished_at, the transaction that recorded its last
// item): p50, p95 (nearest rank) and max. Target: p95 < 3 s.
//
// Big batch: items/s within each phase, counted by the items' finished_at (written when a chunk
// records its outcomes, about every 0.5 s here, so a phase's edges blur by that much, alike on both
// sides), summed over the phases with small batches and over those without.
// big_batch_slowdown = 1 - with / without (target < 0.10).
//
// With DATABASE_URL it creates finishline_benchfairness_<pid> on that server and drops it at the
// end. Human-readable lines first; the last line on stdout is one JSON object with every figure.
import pg from 'pg';
import { startFinishline, waitFor } from '../test/processes.ts';
import { insertNoopBatches, keepOutput, openBenchDatabase, PHASE_TIMEOUT_MS, positiveIntegerFromEnv, runBench, scalar, stillRunning, within, workerRegistered } from './support.ts';

const BIG_ITEMS = positiveIntegerFromEnv('BENCH_BIG_ITEMS', 1_000_000);
const SMALL_BATCHES = positiveIntegerFromEnv('BENCH_SMALL_BATCHES', 20);
const SMALL_PER_PHASE = 2;
const PHASE_MS = 4000;
const SMALL_ITEMS = 10;
const SLEEP_MS = 40;
/** finishline's default, spelled out so the child does not inherit a WORKER_CONCURRENCY of ours. */
const WORKER_CONCURRENCY = 4;
/** How long the big batch runs before the first phase: past the worker's start. */
const WARMUP_MS = 5000;
/** From the test: a small batch beside a big one finishes within this. */
const SMALL_TARGET_S = 3;
const SLOWDOWN_TARGET = 0.1;
const POLL_MS = 100;
const say = (line: string) => process.stdout.write(`${line}\n`);
const round = (value: number, digits = 3) => Number(value.toFixed(digits));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** The nearest-rank percentile of some values. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** A small batch, submitted as the tenant would: app_user with its claims, through submit_batch. */
async function submitSmallBatch(db: pg.Client, tenantId: string): Promise<string> {
  await db.query('begin');
  try {
    await db.query(`select set_config('role', 'app_user', true), set_config('jwt.claims.tenant_id', $1, true)`, [tenantId]);
    const id = await scalar<string>(db,
      `select id as value from app_public.submit_batch('noop', (select jsonb_agg(jsonb_build_object('sleep_ms', $1::int)) from generate_series(1, $2)))`,
      [SLEEP_MS, SMALL_ITEMS]);
    await db.query('commit');
    return id;
  } catch (error) {
    await db.query('rollback').catch(() => {});
    throw error;
  }
}

/** Seconds since the big batch started, in database time (as the items' finished_at). */
async function offset(db: pg.Client, batchId: string): Promise<number> {
  return scalar<number>(db, 'select extract(epoch from clock_timestamp() - started_at)::float as value from app_public.batches where id = $1', [batchId]);
}

/** Items of `batchId` finished between `from` and `to` seconds after its started_at. */
async function itemsFinishedWithin(db: pg.Client, batchId: string, from: number, to: number): Promise<number> {
  return scalar<number>(db,
    `select count(*)::int as value from app_public.batch_items i, app_public.batches b
     where b.id = $1 and i.batch_id = b.id
       and i.finished_at >= b.started_at + make_interval(secs => $2) and i.finished_at < b.started_at + make_interval(secs => $3)`,
    [batchId, from, to]);
}

interface Phase {
  withSmall: boolean;
  from: number;
  to: number;
}

runBench('bench:fairness', async () => {
  const bench = await within('creating the database', openBenchDatabase('fairness'));
  const db = bench.client;
  const big = await scalar<string>(db, `insert into app_public.tenants (name) values ('bench-fairness-big') returning id as value`);
  const small = await scalar<string>(db, `insert into app_public.tenants (name) values ('bench-fairness-small') returning id as value`);
  // The small batches go in on a connection of their own, so that polling never delays a submission.
  const submitter = new pg.Client({ connectionString: bench.url });
  await submitter.connect();
  bench.onCleanup(() => submitter.end());
  const pairs = Math.ceil(SMALL_BATCHES / SMALL_PER_PHASE);
  say(`bench:fairness: PostgreSQL ${bench.serverVersion}; one worker, WORKER_CONCURRENCY ${WORKER_CONCURRENCY}; a big batch of ${BIG_ITEMS} items ` +
    `(sleep_ms ${SLEEP_MS}); ${pairs} pairs of ${PHASE_MS / 1000} s phases from ${WARMUP_MS / 1000} s into it, ${SMALL_PER_PHASE} small batches of ` +
    `${SMALL_ITEMS} items (sleep_ms ${SLEEP_MS}) in the first of each pair`);

  const worker = await startFinishline('worker', { DATABASE_URL: bench.url, WORKER_CONCURRENCY: String(WORKER_CONCURRENCY), LOG_LEVEL: 'info' }, {
    ready: workerRegistered(db),
  });
  keepOutput('finishline worker', worker);
  const inserting = performance.now();
  const bigId = await within('inserting the big batch', insertNoopBatches(db, big, { items: BIG_ITEMS, sleepMs: SLEEP_MS }).then(([id]) => id));
  const insertSeconds = (performance.now() - inserting) / 1000;
  await waitFor(async () => (await scalar<boolean>(db, 'select started_at is not null as value from app_public.batches where id = $1', [bigId])), {
    what: 'the big batch to start', intervalMs: POLL_MS, stillRunning: stillRunning(worker),
  });
  await sleep(WARMUP_MS);

  const smallIds: string[] = [];
  const phases: Phase[] = [];
  for (let pair = 0; pair < pairs; pair++) {
    for (const withSmall of [true, false]) {
      const from = await offset(db, bigId);
      const started = performance.now();
      if (withSmall) {
        for (let i = 0; i < SMALL_PER_PHASE && smallIds.length < SMALL_BATCHES; i++) {
          await sleep(started + (i * PHASE_MS) / SMALL_PER_PHASE - performance.now());
          smallIds.push(await submitSmallBatch(submitter, small));
        }
      }
      await sleep(started + PHASE_MS - performance.now());
      phases.push({ withSmall, from, to: await offset(db, bigId) });
    }
  }
  const bigFinishedEarly = await scalar<boolean>(db, 'select finished_at is not null as value from app_public.batches where id = $1', [bigId]);
  if (bigFinishedEarly) throw new Error(`the big batch finished before the last phase ended: raise BENCH_BIG_ITEMS`);
  await waitFor(async () => (await scalar<number>(db,
    'select count(*)::int as value from app_public.batch_status_summary where batch_id = any($1::uuid[]) and finished_at is not null and has_summary',
    [smallIds])) === smallIds.length, { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: POLL_MS, what: 'the small batches to finish', stillRunning: stillRunning(worker) });
  // The big batch is not waited for: the phases are what is measured.
  await within('stopping the worker', worker.stop());

  const { rows: smallRows } = await db.query<{ seconds: number; succeeded: number }>(
    `select extract(epoch from s.finished_at - s.created_at)::float as seconds, s.succeeded_items as succeeded
     from app_public.batch_status_summary s where s.batch_id = any($1::uuid[])`, [smallIds]);
  const notAll = smallRows.filter((row) => row.succeeded !== SMALL_ITEMS).length;
  if (notAll > 0) throw new Error(`${notAll} small batches did not have all their ${SMALL_ITEMS} items succeed`);
  const latencies = smallRows.map((row) => row.seconds);
  const [p50, p95, max] = [percentile(latencies, 50), percentile(latencies, 95), Math.max(...latencies)];

  const rate = async (withSmall: boolean) => {
    let items = 0;
    let seconds = 0;
    for (const phase of phases.filter((candidate) => candidate.withSmall === withSmall)) {
      items += await itemsFinishedWithin(db, bigId, phase.from, phase.to);
      seconds += phase.to - phase.from;
    }
    return items / seconds;
  };
  const [beside, alone] = [await rate(true), await rate(false)];
  const slowdown = 1 - beside / alone;
  const smallOk = p95 < SMALL_TARGET_S;
  const slowdownOk = slowdown < SLOWDOWN_TARGET;
  say(`small batches (${smallIds.length}): submission to finished p50 ${p50.toFixed(2)} s, p95 ${p95.toFixed(2)} s, max ${max.toFixed(2)} s ` +
    `(target p95 < ${SMALL_TARGET_S} s) ${smallOk ? 'ok' : 'MISSED'}`);
  say(`big batch: ${beside.toFixed(0)} items/s in the phases with small batches, ${alone.toFixed(0)} in those without ` +
    `(${phases[0].from.toFixed(1)} s to ${phases[phases.length - 1].to.toFixed(1)} s after its start; its insert took ${insertSeconds.toFixed(1)} s)`);
  say(`big batch slowdown: ${(slowdown * 100).toFixed(1)} % (target < ${SLOWDOWN_TARGET * 100} %) ${slowdownOk ? 'ok' : 'MISSED'}`);

  return {
    small_batch_p50_seconds: round(p50),
    small_batch_p95_seconds: round(p95),
    small_batch_max_seconds: round(max),
    small_batch_target_seconds: SMALL_TARGET_S,
    small_batch_target_met: smallOk,
    small_batches: smallIds.length,
    small_batch_items: SMALL_ITEMS,
    big_batch_items_per_s_with_small: Math.round(beside),
    big_batch_items_per_s_without: Math.round(alone),
    big_batch_slowdown: round(slowdown),
    big_batch_slowdown_target: SLOWDOWN_TARGET,
    big_batch_slowdown_target_met: slowdownOk,
    phase_seconds: PHASE_MS / 1000,
    phase_pairs: pairs,
    big_batch_insert_seconds: round(insertSeconds, 2),
    big_batch_items: BIG_ITEMS,
    sleep_ms: SLEEP_MS,
    worker_concurrency: WORKER_CONCURRENCY,
    postgres_version: bench.serverVersion,
  };
});

// bench:engine: finishline's batch engine against raw Graphile Worker, on one database.
//
//   npm run bench:engine                                   # embedded PostgreSQL in a temporary directory
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:engine
//   BENCH_ITEMS=10000 WORKER_CONCURRENCY=4 npm run bench:engine   # a quick run
//
// 1. Baseline: BENCH_ITEMS no-op jobs (one per item) already enqueued, run by plain Graphile Worker
//    (bench/raw_worker.ts) with the same concurrency, local queue and batched completion; timed
//    from the worker's run() to an empty jobs table.
// 2. finishline: a `noop` batch of BENCH_ITEMS items inserted in one transaction, run by
//    `finishline worker`; timed from the INSERT to its run summary.
// 3. One transaction inserting a batch of 1,000,000 items, with no worker running.
// With DATABASE_URL the benchmark creates finishline_benchengine_<pid> on that server and drops it at the
// end. Both runs see random_page_cost = 1.1 (set on the database). Worker logs are kept and printed
// (on stderr) only on failure; the last line on stdout is one JSON object with every figure.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startFinishline, waitFor, type FinishlineProcess } from '../test/processes.ts';
import { RAW_TASK, type RawWorkerMessage } from './raw_worker.ts';
import { keepOutput, openBenchDatabase, peakRssMb, PHASE_TIMEOUT_MS, positiveIntegerFromEnv, runBench, stillRunning, within, workerRegistered, type BenchDatabase } from './support.ts';

const ITEMS = positiveIntegerFromEnv('BENCH_ITEMS', 100_000);
const CONCURRENCY = positiveIntegerFromEnv('WORKER_CONCURRENCY', 4);
const ENQUEUE_ITEMS = 1_000_000;
const TARGET = { ratio: 1.0, finalizationMs: 100, enqueueSeconds: 30, rssMb: 300 };
const POLL_MS = 20;
const rawWorkerPath = fileURLToPath(new URL('./raw_worker.ts', import.meta.url));
const say = (line: string) => process.stdout.write(`${line}\n`);
/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();
/** One human-readable line: a label, a figure, and whether it meets its target (if it has one). */
const report = (label: string, figure: string, ok?: boolean) =>
  say(`${`${label}:`.padEnd(34)}${figure}${ok === undefined ? '' : ok ? ' ok' : ' MISSED'}`);

/** Throws once the raw worker has exited: whatever waits for its work would wait forever. */
function assertRunning(child: Child): void {
  if (child.exited) throw new Error(`${child.name} exited unexpectedly (${child.exited})`);
}

interface Child {
  name: string;
  process: ChildProcess;
  output: string;
  /** How it ended (exit code or signal), once it has. */
  exited: string | undefined;
}

/**
 * Starts the raw worker (not finishline: it talks to us over IPC); its output goes to a buffer,
 * never to our stdout, and it is killed at clean-up.
 */
function startRawWorker(bench: BenchDatabase, name: string, env: Record<string, string>): Child {
  // Same Node flags as the finishline worker: only the engine differs.
  const proc = spawn(process.execPath, [rawWorkerPath], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const child: Child = { name, process: proc, output: '', exited: undefined };
  proc.stdout?.on('data', (chunk: Buffer) => (child.output += chunk.toString()));
  proc.stderr?.on('data', (chunk: Buffer) => (child.output += chunk.toString()));
  proc.once('exit', (code, signal) => (child.exited = signal ?? `code ${code}`));
  keepOutput(name, { output: () => child.output });
  bench.onCleanup(async () => void (child.exited || proc.kill('SIGKILL')));
  return child;
}

/** SIGTERM (a clean shutdown), then waits for the exit. */
async function stopChild(child: Child): Promise<void> {
  if (child.exited) return;
  const exited = new Promise((resolve) => child.process.once('exit', resolve));
  child.process.kill('SIGTERM');
  await within(`stopping ${child.name}`, exited);
}

/** The first IPC message from the raw worker that `pick` accepts. */
function messageFrom<T>(child: Child, pick: (message: RawWorkerMessage) => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: RawWorkerMessage) => {
      const value = pick(message);
      if (value === undefined) return;
      child.process.off('message', onMessage);
      resolve(value);
    };
    child.process.on('message', onMessage);
    child.process.once('exit', (code, signal) => reject(new Error(`${child.name} exited unexpectedly (${signal ?? `code ${code}`})`)));
  });
}


async function scalar<T>(db: pg.Client, sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await db.query<{ value: T }>(sql, params);
  return rows[0].value;
}

interface Baseline { jobsPerS: number; seconds: number; enqueueSeconds: number; rssMb: number }

async function runBaseline(bench: BenchDatabase): Promise<Baseline> {
  const { client: db, url: dbUrl } = bench;
  let started = now();
  await db.query(
    `select count(*) from graphile_worker.add_jobs(array(
       select row($1::text, '{}'::json, null, null, null, null, null, null)::graphile_worker.job_spec
       from generate_series(1, $2::integer)))`,
    [RAW_TASK, ITEMS],
  );
  const enqueueSeconds = (now() - started) / 1000;
  const worker = startRawWorker(bench, 'raw graphile-worker', {
    DATABASE_URL: dbUrl,
    WORKER_CONCURRENCY: String(CONCURRENCY),
    BENCH_JOBS: String(ITEMS),
  });
  const startedAt = messageFrom(worker, (message) => ('startedAt' in message ? message.startedAt : undefined));
  const ranAll = messageFrom(worker, (message) => ('ranAllAt' in message ? message.ranAllAt : undefined));
  ranAll.catch(() => {}); // Awaited below; a worker that dies early fails startedAt first.
  started = await startedAt;
  await ranAll;
  // Every task has run; the jobs are done once their completion is committed (deleted).
  const finished = await waitFor(async () => {
    const empty = await scalar<boolean>(db, 'select not exists (select 1 from graphile_worker.jobs) as value');
    return empty && now();
  }, { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: POLL_MS, what: 'the baseline jobs', stillRunning: () => assertRunning(worker) });
  const seconds = (finished - started) / 1000;
  const rssMb = peakRssMb(worker.process.pid!);
  await stopChild(worker);
  return { jobsPerS: ITEMS / seconds, seconds, enqueueSeconds, rssMb };
}

interface Finishline { itemsPerS: number; seconds: number; submitSeconds: number; finalizationMs: number; summaryLatencyMs: number; rssMb: number }

/** Inserts a `noop` batch of `items` items in one transaction, as plain SQL; returns its id. */
async function submitNoopBatch(db: pg.Client, tenantId: string, items: number): Promise<string> {
  await db.query('begin');
  try {
    const batchId = await scalar<string>(db, `insert into app_public.batches (tenant_id, kind) values ($1, 'noop') returning id as value`, [tenantId]);
    await db.query(
      `insert into app_public.batch_items (batch_id, tenant_id, payload) select $1, $2, '{}' from generate_series(1, $3::integer)`,
      [batchId, tenantId, items],
    );
    await db.query('commit');
    return batchId;
  } catch (error) {
    await db.query('rollback');
    throw error;
  }
}

async function runFinishline(db: pg.Client, dbUrl: string, tenantId: string): Promise<{ result: Finishline; worker: FinishlineProcess }> {
  const worker = await startFinishline('worker', { DATABASE_URL: dbUrl, WORKER_CONCURRENCY: String(CONCURRENCY), LOG_LEVEL: 'info' }, {
    ready: workerRegistered(db),
  });
  keepOutput('finishline worker', worker);

  const started = now();
  const batchId = await submitNoopBatch(db, tenantId, ITEMS);
  const submitSeconds = (now() - started) / 1000;
  const finished = await waitFor(async () => {
    const { rowCount } = await db.query('select 1 from app_public.run_summaries where batch_id = $1', [batchId]);
    return rowCount && now();
  }, { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: POLL_MS, what: 'the run summary', stillRunning: stillRunning(worker) });
  const seconds = (finished - started) / 1000;
  const rssMb = peakRssMb(worker.pid);

  // From the database's own timestamps (each is its transaction's start time). 0 means the
  // transaction that finished the last item finished the batch; below 0, an item's transaction
  // that started later committed first, and the one committing last (which started earlier)
  // finalized the batch: still the same transaction as an item, with an earlier stamp.
  const { rows: [times] } = await db.query<{ status: string; succeeded: number; finalization_ms: string; summary_ms: string }>(
    `select s.status, s.succeeded_items as succeeded,
       extract(epoch from b.finished_at - (select max(i.finished_at) from app_public.batch_items i where i.batch_id = b.id)) * 1000 as finalization_ms,
       extract(epoch from s.created_at - b.finished_at) * 1000 as summary_ms
     from app_public.batches b join app_public.run_summaries s on s.batch_id = b.id where b.id = $1`,
    [batchId],
  );
  if (times.status !== 'completed' || times.succeeded !== ITEMS) {
    throw new Error(`batch ${batchId} ended ${times.status} with ${times.succeeded} of ${ITEMS} items succeeded`);
  }
  const finalizationMs = Number(times.finalization_ms);
  const summaryLatencyMs = Number(times.summary_ms);
  return { result: { itemsPerS: ITEMS / seconds, seconds, submitSeconds, finalizationMs, summaryLatencyMs, rssMb }, worker };
}

/** One transaction inserting a million items, with no worker running; how long, and how many jobs. */
async function runEnqueue(db: pg.Client, tenantId: string): Promise<{ seconds: number; jobs: number }> {
  const jobsBefore = await scalar<number>(db, 'select count(*)::integer as value from graphile_worker.jobs');
  const started = now();
  await submitNoopBatch(db, tenantId, ENQUEUE_ITEMS);
  const seconds = (now() - started) / 1000;
  const jobsAfter = await scalar<number>(db, 'select count(*)::integer as value from graphile_worker.jobs');
  return { seconds, jobs: jobsAfter - jobsBefore };
}

async function main(): Promise<Record<string, unknown>> {
  const bench = await within('creating the database', openBenchDatabase('engine'));
  const { url: dbUrl, client: db } = bench;
  // graphile-worker's batched fetch plans a full scan of its jobs table under the default 4.
  await db.query(`alter database ${db.database} set random_page_cost = 1.1`);
  await db.query('set random_page_cost = 1.1');
  const version = await scalar<string>(db, "select current_setting('server_version') as value");
  const randomPageCost = await scalar<string>(db, "select current_setting('random_page_cost') as value");
  say(`PostgreSQL ${version}, random_page_cost = ${randomPageCost}, concurrency ${CONCURRENCY}, ${ITEMS} items`);

  const baseline = await within('the baseline', runBaseline(bench));
  report('baseline (raw graphile-worker)', `${baseline.jobsPerS.toFixed(0)} jobs/s (${baseline.seconds.toFixed(2)} s; enqueue took ${baseline.enqueueSeconds.toFixed(2)} s)`);

  const tenantId = await scalar<string>(db, `insert into app_public.tenants (name) values ('bench') returning id as value`);
  const { result: fl, worker } = await within('the finishline run', runFinishline(db, dbUrl, tenantId));
  const ratio = fl.itemsPerS / baseline.jobsPerS;
  report('finishline', `${fl.itemsPerS.toFixed(0)} items/s (${fl.seconds.toFixed(2)} s from INSERT to summary; the INSERT took ${fl.submitSeconds.toFixed(2)} s)`);
  report('ratio finishline / baseline', `${ratio.toFixed(2)} (target >= ${TARGET.ratio})`, ratio >= TARGET.ratio);
  report('finalization latency', `${fl.finalizationMs.toFixed(1)} ms (target < ${TARGET.finalizationMs} ms)`, fl.finalizationMs < TARGET.finalizationMs);
  report('summary latency', `${fl.summaryLatencyMs.toFixed(1)} ms (batch finished to run summary written)`);
  report('finishline worker peak RSS', `${fl.rssMb.toFixed(0)} MB (target < ${TARGET.rssMb} MB)`, fl.rssMb < TARGET.rssMb);
  report('baseline worker peak RSS', `${baseline.rssMb.toFixed(0)} MB`);
  await within('stopping the finishline worker', worker.stop());

  const enqueue = await within('the 1M enqueue', runEnqueue(db, tenantId));
  const enqueueItemsPerS = ENQUEUE_ITEMS / enqueue.seconds;
  report(`enqueue of ${ENQUEUE_ITEMS} items`, `${enqueue.seconds.toFixed(2)} s, ${enqueueItemsPerS.toFixed(0)} items/s, ${enqueue.jobs} jobs (target < ${TARGET.enqueueSeconds} s)`, enqueue.seconds < TARGET.enqueueSeconds);

  return {
    baseline_jobs_per_s: Math.round(baseline.jobsPerS),
    finishline_items_per_s: Math.round(fl.itemsPerS),
    ratio: Number(ratio.toFixed(3)),
    finalization_latency_ms: Number(fl.finalizationMs.toFixed(1)),
    summary_latency_ms: Number(fl.summaryLatencyMs.toFixed(1)),
    enqueue_1m_seconds: Number(enqueue.seconds.toFixed(2)),
    enqueue_1m_items_per_s: Math.round(enqueueItemsPerS),
    enqueue_1m_jobs: enqueue.jobs,
    worker_rss_mb: Math.round(fl.rssMb),
    baseline_rss_mb: Math.round(baseline.rssMb),
    baseline_seconds: Number(baseline.seconds.toFixed(3)),
    finishline_seconds: Number(fl.seconds.toFixed(3)),
    finishline_insert_seconds: Number(fl.submitSeconds.toFixed(3)),
    concurrency: CONCURRENCY,
    items: ITEMS,
    random_page_cost: Number(randomPageCost),
    postgres_version: version,
  };
}

runBench('bench:engine', main);

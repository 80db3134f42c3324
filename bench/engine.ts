// bench:engine: finishline's batch engine against raw Graphile Worker at its best, on one database.
//
//   npm run bench:engine                                   # embedded PostgreSQL in a temporary directory
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:engine
//   BENCH_ITEMS=10000 npm run bench:engine                 # a quick run
//
// Every clock starts when the enqueue starts and stops when the last item is done: for raw Graphile
// Worker, its jobs table empty; for finishline, the batch finished (polled every 20 ms, both).
// Every timed run is a running worker's: each worker is started (and listening) before its clock,
// and has run the same workload once before, untimed, on its tables (a worker's first run pays for
// its JIT compilation, its connections' first calls, and tables growing from empty).
// 1. The baseline: BENCH_ITEMS no-op jobs (one per item), run by plain Graphile Worker
//    (bench/raw_worker.ts) at WORKER_CONCURRENCY, once per local queue size (none, 50, 500, 1000),
//    each by a worker of its own. The jobs table is analyzed outside the clock, in the enqueue's
//    transaction before it commits (what autovacuum does to a live queue; unanalyzed, a big local
//    queue's fetch is planned as a scan of the whole table). Every variant is printed; the best is
//    the baseline. A variant whose worker dies (its pool stopped on an error) runs again once, and
//    says so.
// 2. finishline: a `noop` batch of BENCH_ITEMS items inserted in one transaction (plain SQL), run
//    by a `finishline worker`; its finalization latency (last item's transaction to the batch's
//    finished_at) and summary latency (finished_at to the run summary).
// 3. 10,000 items at concurrency 10, for both (the baseline at its best local queue, and without
//    one, as finishline's worker runs); finishline again with chunks of one item (chunk_size 1,
//    BENCH_CHUNK1_ITEMS), where every item is a job fetched by a free slot, beside its ceiling:
//    the same jobs run raw, without a local queue, at concurrency 10; and CPU time per item of
//    both, PostgreSQL's and the worker's.
// 4. 100 batches of 100 items, inserted in one transaction: items/s until the last is finished,
//    and every batch finished once with one run summary; the median of three runs.
//    finishline's first runs (a worker just started, whose connections each prepare finishline's
//    functions on their first calls) are printed next to its figures.
// 5. One transaction inserting a batch of 1,000,000 items, with no worker running, beside its
//    baseline: the same rows inserted into a copy of batch_items with its columns, constraints,
//    indexes and storage, but none of its triggers (nothing counted, checked or enqueued).
// PostgreSQL's CPU time (every postgres process's, and what its postmaster reaped from exited
// backends) and the worker process's are read from /proc around runs 1 and 2: seconds per 100,000
// items for each, the worker's from the start of the enqueue (its own startup left out).
// With DATABASE_URL the benchmark creates finishline_benchengine_<pid> on that server and drops it
// at the end. Every run sees random_page_cost = 1.1 (set on the database). Worker logs are kept and
// printed (on stderr) only on failure; the last line on stdout is one JSON object with every figure.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startFinishline, waitFor, type FinishlineProcess } from '../test/processes.ts';
import { RAW_TASK, type RawWorkerMessage } from './raw_worker.ts';
import { insertNoopBatches, keepOutput, openBenchDatabase, peakRssMb, PHASE_TIMEOUT_MS, positiveIntegerFromEnv, runBench, scalar, stillRunning, within, workerRegistered, type BenchDatabase } from './support.ts';

const ITEMS = positiveIntegerFromEnv('BENCH_ITEMS', 100_000);
const CONCURRENCY = positiveIntegerFromEnv('WORKER_CONCURRENCY', 4);
const LOCAL_QUEUES = [0, 50, 500, 1000];
const WORKLOAD10_ITEMS = 10_000;
const CHUNK1_ITEMS = positiveIntegerFromEnv('BENCH_CHUNK1_ITEMS', 5000);
/** 100 x 100 takes well under a second: one run is at the mercy of whatever else the machine does. */
const BATCHES100_RUNNING_RUNS = 3;
const ENQUEUE_ITEMS = 1_000_000;
const TARGET = { ratio: 1.5, chunk1PerS: 5000, batches100PerS: 20_000, finalizationMs: 5, summaryMs: 50, enqueueSeconds: 8, rssMb: 200 };
const POLL_MS = 20;
/** The unit of /proc/<pid>/stat's times (USER_HZ: 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;
const rawWorkerPath = fileURLToPath(new URL('./raw_worker.ts', import.meta.url));
const say = (line: string) => process.stdout.write(`${line}\n`);
/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();
/** One human-readable line: a label, a figure, and whether it meets its target (if it has one). */
const report = (label: string, figure: string, ok?: boolean) =>
  say(`${`${label}:`.padEnd(34)} ${figure}${ok === undefined ? '' : ok ? ' ok' : ' MISSED'}`);

/** The raw worker went away in the middle of a run. */
class RawWorkerExited extends Error {
  constructor(child: Child, how: string) {
    // Its first error line says why (Graphile Worker logs it before its pool stops).
    const why = child.output.split('\n').find((line) => line.startsWith('error:'));
    super(`${child.name} exited unexpectedly (${how})${why ? `: ${why.replace(/:$/, '')}` : ''}`);
  }
}

/** Throws once the raw worker has exited: whatever waits for its work would wait forever. */
function assertRunning(child: Child): void {
  if (child.exited) throw new RawWorkerExited(child, child.exited);
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
    child.process.once('exit', (code, signal) => reject(new RawWorkerExited(child, signal ?? `code ${code}`)));
  });
}


/** A process's CPU ticks from /proc/<pid>/stat: its own (utime, stime) and its reaped children's. */
function cpuTicks(pid: string | number): { command: string; own: number; children: number } | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // gone meanwhile
  }
  const close = stat.lastIndexOf(')');
  // Fields after the command: state is the 3rd field; utime, stime, cutime, cstime the 14th to 17th.
  const fields = stat.slice(close + 2).split(' ');
  return {
    command: stat.slice(stat.indexOf('(') + 1, close),
    own: Number(fields[11]) + Number(fields[12]),
    children: Number(fields[13]) + Number(fields[14]),
  };
}

/**
 * CPU seconds PostgreSQL has used so far: every postgres process's own, plus what the postmaster
 * reaped from backends that exited (their time would otherwise leave the sum with them).
 */
function postgresCpuSeconds(): number {
  let ticks = 0;
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    const cpu = cpuTicks(pid);
    if (cpu?.command === 'postgres') ticks += cpu.own + cpu.children;
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/** CPU seconds one (running) process has used so far. */
function processCpuSeconds(pid: number): number {
  return (cpuTicks(pid)?.own ?? 0) / CLOCK_TICKS_PER_SECOND;
}

interface Run {
  /** From the start of the enqueue to the last item done. */
  seconds: number;
  perSecond: number;
  /** PostgreSQL CPU seconds per 100,000 items, enqueue and run. */
  cpuPer100k: number;
  /** The worker process's CPU seconds per 100,000 items, from the start of the enqueue. */
  workerCpuPer100k: number;
  rssMb: number;
}

interface Baseline extends Run {
  localQueue: number;
}

/**
 * The baseline, run again once if its worker died: a raw Graphile Worker pool stops for good on an
 * error of its own (a deadlock among its batched completions, say), which says nothing of its
 * speed. The retry is printed.
 */
async function runBaseline(bench: BenchDatabase, options: { jobs: number; concurrency: number; localQueue: number }): Promise<Baseline> {
  try {
    return await runBaselineOnce(bench, options);
  } catch (error) {
    if (!(error instanceof RawWorkerExited)) throw error;
    say(`(${error.message}: its jobs are deleted and it runs again)`);
    await bench.client.query('delete from graphile_worker._private_jobs');
    return runBaselineOnce(bench, options);
  }
}

async function runBaselineOnce(bench: BenchDatabase, { jobs, concurrency, localQueue }: { jobs: number; concurrency: number; localQueue: number }): Promise<Baseline> {
  const { client: db, url: dbUrl } = bench;
  // Started and listening before the clock, as finishline's worker is.
  const label = localQueue ? `local queue ${localQueue}` : 'no local queue';
  const worker = startRawWorker(bench, `raw graphile-worker (${label}, concurrency ${concurrency})`, {
    DATABASE_URL: dbUrl,
    WORKER_CONCURRENCY: String(concurrency),
    // It says when it has run them all: the untimed run's jobs, then the timed run's.
    BENCH_JOBS: String(2 * jobs),
    BENCH_LOCAL_QUEUE: String(localQueue),
  });
  const ready = messageFrom(worker, (message) => ('ready' in message ? true : undefined));
  const ranAll = messageFrom(worker, (message) => ('ranAllAt' in message ? message.ranAllAt : undefined));
  ranAll.catch(() => {}); // Awaited below; a worker that dies early fails `ready` first.
  await ready;
  const allDone = () => waitFor(async () => {
    const empty = await scalar<boolean>(db, 'select not exists (select 1 from graphile_worker.jobs) as value');
    return empty && now();
  }, { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: POLL_MS, what: 'the baseline jobs', stillRunning: () => assertRunning(worker) });
  // A running worker, on a jobs table that has held as many jobs before: as finishline's worker and
  // items table are when its run is timed (the same workload runs once before).
  await enqueueRawJobs(db, jobs);
  await allDone();
  // Every variant starts on the same tidy table.
  await db.query('vacuum graphile_worker._private_jobs');
  const cpuBefore = postgresCpuSeconds();
  const workerCpuBefore = processCpuSeconds(worker.process.pid!);
  const { enqueueSeconds, committing, cpuAnalyze } = await enqueueRawJobs(db, jobs);
  await ranAll;
  // Every task has run; the jobs are done once their completion is committed (deleted).
  const finished = await allDone();
  const cpu = postgresCpuSeconds() - cpuBefore - cpuAnalyze;
  const workerCpu = processCpuSeconds(worker.process.pid!) - workerCpuBefore;
  const seconds = enqueueSeconds + (finished - committing) / 1000;
  const rssMb = peakRssMb(worker.process.pid!);
  await stopChild(worker);
  return { localQueue, seconds, perSecond: jobs / seconds, cpuPer100k: (cpu * 100_000) / jobs, workerCpuPer100k: (workerCpu * 100_000) / jobs, rssMb };
}

/**
 * Enqueues `jobs` raw jobs in one transaction, analyzing the jobs table before it commits, outside
 * the clock and the CPU count, as autovacuum would have done it for a live queue (ANALYZE counts
 * its own transaction's new rows, and the worker sees no job before the commit). Returns how long
 * the enqueue took, when the commit started, and the ANALYZE's PostgreSQL CPU seconds.
 */
async function enqueueRawJobs(db: pg.Client, jobs: number): Promise<{ enqueueSeconds: number; committing: number; cpuAnalyze: number }> {
  const enqueueStarted = now();
  await db.query('begin');
  await db.query(
    `select count(*) from graphile_worker.add_jobs(array(
       select row($1::text, '{}'::json, null, null, null, null, null, null)::graphile_worker.job_spec
       from generate_series(1, $2::integer)))`,
    [RAW_TASK, jobs],
  );
  const enqueueSeconds = (now() - enqueueStarted) / 1000;
  const cpuAnalyzeBefore = postgresCpuSeconds();
  await db.query('analyze graphile_worker._private_jobs');
  const cpuAnalyze = postgresCpuSeconds() - cpuAnalyzeBefore;
  const committing = now();
  await db.query('commit');
  return { enqueueSeconds, committing, cpuAnalyze };
}

interface FinishlineRun extends Run {
  finalizationMs: number;
  summaryLatencyMs: number;
}

/**
 * A finishline worker at `concurrency` runs `batches` batches of `items` items, inserted at once;
 * the clock stops when the last is finished. Every batch must end completed, with one summary.
 * With `runs` above 1 the same worker runs the workload that many times, one after the other.
 */
async function runFinishline(bench: BenchDatabase, tenantId: string, { items, concurrency, batches = 1, runs = 1 }: { items: number; concurrency: number; batches?: number; runs?: number }): Promise<FinishlineRun[]> {
  const worker = await startFinishline('worker', { DATABASE_URL: bench.url, WORKER_CONCURRENCY: String(concurrency), LOG_LEVEL: 'info' }, {
    ready: workerRegistered(bench.client),
  });
  keepOutput(`finishline worker (${batches} x ${items} items, concurrency ${concurrency})`, worker);
  const results: FinishlineRun[] = [];
  for (let run = 0; run < runs; run++) results.push(await runWorkload(bench, tenantId, worker, { items, batches }));
  await within('stopping the finishline worker', worker.stop());
  return results;
}

/** One run of the workload on a running worker, from the enqueue to the last batch finished. */
async function runWorkload(bench: BenchDatabase, tenantId: string, worker: FinishlineProcess, { items, batches }: { items: number; batches: number }): Promise<FinishlineRun> {
  const db = bench.client;
  const cpuBefore = postgresCpuSeconds();
  const workerCpuBefore = processCpuSeconds(worker.pid);
  const started = now();
  const ids = await insertNoopBatches(db, tenantId, { items, batches });
  const finished = await waitFor(async () => {
    const unfinished = await scalar<boolean>(db, 'select exists (select 1 from app_public.batches where id = any($1::uuid[]) and finished_at is null) as value', [ids]);
    return !unfinished && now();
  }, { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: POLL_MS, what: 'the batches to finish', stillRunning: stillRunning(worker) });
  const cpu = postgresCpuSeconds() - cpuBefore;
  const workerCpu = processCpuSeconds(worker.pid) - workerCpuBefore;
  const seconds = (finished - started) / 1000;
  await waitFor(async () => (await scalar<number>(db, 'select count(*)::integer as value from app_public.run_summaries where batch_id = any($1::uuid[])', [ids])) === ids.length,
    { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: POLL_MS, what: 'the run summaries', stillRunning: stillRunning(worker) });
  const rssMb = peakRssMb(worker.pid);

  // From the database's own timestamps (each is its transaction's start time). 0 means the
  // transaction that finished the last item finished the batch; below 0, an item's transaction
  // that started later committed first, and the one committing last (which started earlier)
  // finalized the batch: still the same transaction as an item, with an earlier stamp.
  const { rows } = await db.query<{ status: string; succeeded: number; summaries: number; finalization_ms: number; summary_ms: number }>(
    `select s.status, s.succeeded_items as succeeded,
       (select count(*)::integer from app_public.run_summaries r where r.batch_id = b.id) as summaries,
       extract(epoch from b.finished_at - (select max(i.finished_at) from app_public.batch_items i where i.batch_id = b.id))::float * 1000 as finalization_ms,
       extract(epoch from r.created_at - b.finished_at)::float * 1000 as summary_ms
     from app_public.batches b join app_public.batch_status_summary s on s.batch_id = b.id
     join app_public.run_summaries r on r.batch_id = b.id where b.id = any($1::uuid[])`,
    [ids],
  );
  const wrong = rows.filter((row) => row.status !== 'completed' || row.succeeded !== items || row.summaries !== 1);
  if (rows.length !== ids.length || wrong.length > 0) {
    throw new Error(`${wrong.length + ids.length - rows.length} of ${ids.length} batches did not end completed with ${items} items succeeded and one summary`);
  }
  // Each run starts on a tidy database, as the first did.
  await db.query('vacuum analyze app_public.batch_items, app_public.batches, graphile_worker._private_jobs');
  const total = items * batches;
  return {
    seconds,
    perSecond: total / seconds,
    cpuPer100k: (cpu * 100_000) / total,
    workerCpuPer100k: (workerCpu * 100_000) / total,
    rssMb,
    finalizationMs: Math.max(...rows.map((row) => row.finalization_ms)),
    summaryLatencyMs: Math.max(...rows.map((row) => row.summary_ms)),
  };
}

/** One transaction inserting a million items, with no worker running; how long, and how many jobs. */
async function runEnqueue(db: pg.Client, tenantId: string): Promise<{ seconds: number; jobs: number; plainSeconds: number }> {
  const jobsBefore = await scalar<number>(db, 'select count(*)::integer as value from graphile_worker.jobs');
  const started = now();
  const [batchId] = await insertNoopBatches(db, tenantId, { items: ENQUEUE_ITEMS });
  const seconds = (now() - started) / 1000;
  const jobsAfter = await scalar<number>(db, 'select count(*)::integer as value from graphile_worker.jobs');
  await db.query(`create table plain_items (like app_public.batch_items including all) with (fillfactor = 35)`);
  const plainStarted = now();
  await db.query('begin');
  await db.query(`insert into plain_items (batch_id, tenant_id, payload) select $1, $2, '{}'::jsonb from generate_series(1, $3::integer)`,
    [batchId, tenantId, ENQUEUE_ITEMS]);
  await db.query('commit');
  const plainSeconds = (now() - plainStarted) / 1000;
  await db.query('drop table plain_items');
  return { seconds, jobs: jobsAfter - jobsBefore, plainSeconds };
}

const perSecond = (run: Run) => `${run.perSecond.toFixed(0)}/s (${run.seconds.toFixed(2)} s)`;
const cpuSeconds = (run: Run) => `CPU-s per 100k: PostgreSQL ${run.cpuPer100k.toFixed(1)}, worker ${run.workerCpuPer100k.toFixed(1)}`;

async function main(): Promise<Record<string, unknown>> {
  const bench = await within('creating the database', openBenchDatabase('engine'));
  const db = bench.client;
  // graphile-worker's batched fetch plans a full scan of its jobs table under the default 4.
  await db.query(`alter database ${db.database} set random_page_cost = 1.1`);
  await db.query('set random_page_cost = 1.1');
  const randomPageCost = await scalar<string>(db, "select current_setting('random_page_cost') as value");
  say(`PostgreSQL ${bench.serverVersion}, random_page_cost = ${randomPageCost}; ${ITEMS} items at concurrency ${CONCURRENCY}; clocks from the enqueue to the last item done`);

  const variants: Baseline[] = [];
  for (const localQueue of LOCAL_QUEUES) {
    const variant = await within(`the baseline, local queue ${localQueue}`, runBaseline(bench, { jobs: ITEMS, concurrency: CONCURRENCY, localQueue }));
    report(`raw graphile-worker, ${localQueue ? `local queue ${localQueue}` : 'no local queue'}`, `${perSecond(variant)}, ${cpuSeconds(variant)}`);
    variants.push(variant);
  }
  const best = variants.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));

  const tenantId = await scalar<string>(db, `insert into app_public.tenants (name) values ('bench') returning id as value`);
  const [flFirst, fl] = await within('the finishline run', runFinishline(bench, tenantId, { items: ITEMS, concurrency: CONCURRENCY, runs: 2 }));
  const ratio = fl.perSecond / best.perSecond;
  report('finishline', `${perSecond(fl)}, ${cpuSeconds(fl)} (a worker's first run: ${perSecond(flFirst)})`);
  report('ratio to the best raw', `${ratio.toFixed(2)} (best: local queue ${best.localQueue || 'none'}, ${best.perSecond.toFixed(0)} jobs/s; target >= ${TARGET.ratio})`, ratio >= TARGET.ratio);
  report('finalization latency', `${fl.finalizationMs.toFixed(1)} ms (target < ${TARGET.finalizationMs} ms)`, fl.finalizationMs < TARGET.finalizationMs);
  report('summary latency', `${fl.summaryLatencyMs.toFixed(1)} ms (target < ${TARGET.summaryMs} ms)`, fl.summaryLatencyMs < TARGET.summaryMs);
  report('finishline worker peak RSS', `${fl.rssMb.toFixed(0)} MB (target < ${TARGET.rssMb} MB; raw ${best.rssMb.toFixed(0)} MB)`, fl.rssMb < TARGET.rssMb);

  const raw10 = await within('the baseline at concurrency 10', runBaseline(bench, { jobs: WORKLOAD10_ITEMS, concurrency: 10, localQueue: best.localQueue }));
  const [, fl10] = await within('finishline at concurrency 10', runFinishline(bench, tenantId, { items: WORKLOAD10_ITEMS, concurrency: 10, runs: 2 }));
  report(`${WORKLOAD10_ITEMS} items, concurrency 10`, `finishline ${perSecond(fl10)}, raw graphile-worker ${perSecond(raw10)}`);
  const chunkSize = await scalar<number>(db, `select chunk_size as value from app_public.batch_kinds where kind = 'noop'`);
  await db.query(`update app_public.batch_kinds set chunk_size = 1 where kind = 'noop'`);
  const [chunk1First, chunk1] = await within('chunks of one item', runFinishline(bench, tenantId, { items: CHUNK1_ITEMS, concurrency: 10, runs: 2 }));
  await db.query(`update app_public.batch_kinds set chunk_size = $1 where kind = 'noop'`, [chunkSize]);
  // finishline's worker has no local queue (each slot fetches its own job, so that workers share
  // a batch): with one item a job, that fetch is a floor of its own, measured here raw.
  const raw10Unqueued = await within('the baseline at concurrency 10 without a local queue', runBaseline(bench, { jobs: WORKLOAD10_ITEMS, concurrency: 10, localQueue: 0 }));
  report(`chunk_size 1, concurrency 10`, `${perSecond(chunk1)} for ${CHUNK1_ITEMS} items (target >= ${TARGET.chunk1PerS}; a worker's first run: ${perSecond(chunk1First)}; raw ${raw10.perSecond.toFixed(0)} jobs/s, ${raw10Unqueued.perSecond.toFixed(0)} without a local queue)`, chunk1.perSecond >= TARGET.chunk1PerS);
  // Every item is a job that a free slot fetches and completes (the raw worker's whole work), and
  // more: the same job at the same concurrency, raw, is the ceiling of chunks of one item.
  report('chunk_size 1, its ceiling', `${raw10Unqueued.perSecond.toFixed(0)} jobs/s (raw without a local queue); finishline at ${(chunk1.perSecond / raw10Unqueued.perSecond).toFixed(2)} of it, with PostgreSQL ${(chunk1.cpuPer100k / 100).toFixed(2)} and its worker ${(chunk1.workerCpuPer100k / 100).toFixed(2)} CPU-ms per item (raw ${(raw10Unqueued.cpuPer100k / 100).toFixed(2)} and ${(raw10Unqueued.workerCpuPer100k / 100).toFixed(2)})`);
  const [batches100First, ...batches100Runs] = await within('100 batches of 100 items', runFinishline(bench, tenantId, { items: 100, batches: 100, concurrency: CONCURRENCY, runs: 1 + BATCHES100_RUNNING_RUNS }));
  const batches100 = [...batches100Runs].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(batches100Runs.length / 2)];
  report('100 batches of 100 items', `${perSecond(batches100)} (median of ${batches100Runs.map((run) => run.perSecond.toFixed(0)).join(', ')}), each finished once with one summary (target >= ${TARGET.batches100PerS}; a worker's first run: ${perSecond(batches100First)})`, batches100.perSecond >= TARGET.batches100PerS);

  const enqueue = await within('the 1M enqueue', runEnqueue(db, tenantId));
  report(`enqueue of ${ENQUEUE_ITEMS} items`, `${enqueue.seconds.toFixed(2)} s, ${enqueue.jobs} jobs (target < ${TARGET.enqueueSeconds} s; the same rows into the table without its triggers: ${enqueue.plainSeconds.toFixed(2)} s)`, enqueue.seconds < TARGET.enqueueSeconds);

  return {
    best_raw_jobs_per_s: Math.round(best.perSecond),
    best_raw_local_queue: best.localQueue,
    ratio_vs_best_raw: Number(ratio.toFixed(3)),
    finishline_items_per_s: Math.round(fl.perSecond),
    finishline_first_run_items_per_s: Math.round(flFirst.perSecond),
    ...Object.fromEntries(variants.map((variant) => [`raw_local_queue_${variant.localQueue}_jobs_per_s`, Math.round(variant.perSecond)])),
    chunk1_items_per_s: Math.round(chunk1.perSecond),
    chunk1_first_run_items_per_s: Math.round(chunk1First.perSecond),
    workload10_raw_no_local_queue_jobs_per_s: Math.round(raw10Unqueued.perSecond),
    chunk1_of_raw_no_local_queue: Number((chunk1.perSecond / raw10Unqueued.perSecond).toFixed(3)),
    chunk1_postgres_cpu_s_per_100k: Number(chunk1.cpuPer100k.toFixed(2)),
    chunk1_worker_cpu_s_per_100k: Number(chunk1.workerCpuPer100k.toFixed(2)),
    raw_no_local_queue_postgres_cpu_s_per_100k: Number(raw10Unqueued.cpuPer100k.toFixed(2)),
    raw_no_local_queue_worker_cpu_s_per_100k: Number(raw10Unqueued.workerCpuPer100k.toFixed(2)),
    batches100_items_per_s: Math.round(batches100.perSecond),
    batches100_first_run_items_per_s: Math.round(batches100First.perSecond),
    batches100_runs_items_per_s: batches100Runs.map((run) => Math.round(run.perSecond)),
    workload10_items_per_s: Math.round(fl10.perSecond),
    workload10_raw_jobs_per_s: Math.round(raw10.perSecond),
    finalization_latency_ms: Number(fl.finalizationMs.toFixed(1)),
    summary_latency_ms: Number(fl.summaryLatencyMs.toFixed(1)),
    enqueue_1m_seconds: Number(enqueue.seconds.toFixed(2)),
    enqueue_1m_jobs: enqueue.jobs,
    enqueue_1m_plain_insert_seconds: Number(enqueue.plainSeconds.toFixed(2)),
    worker_rss_mb: Math.round(fl.rssMb),
    baseline_rss_mb: Math.round(best.rssMb),
    postgres_cpu_s_per_100k: Number(fl.cpuPer100k.toFixed(2)),
    baseline_postgres_cpu_s_per_100k: Number(best.cpuPer100k.toFixed(2)),
    worker_cpu_s_per_100k: Number(fl.workerCpuPer100k.toFixed(2)),
    baseline_worker_cpu_s_per_100k: Number(best.workerCpuPer100k.toFixed(2)),
    concurrency: CONCURRENCY,
    items: ITEMS,
    chunk1_items: CHUNK1_ITEMS,
    random_page_cost: Number(randomPageCost),
    postgres_version: bench.serverVersion,
  };
}

runBench('bench:engine', main);

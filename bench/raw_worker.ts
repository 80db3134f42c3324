// The baseline of bench:engine: plain Graphile Worker running one no-op task, configured like
// finishline's worker (server/worker/worker.ts) but for its local queue, which bench:engine varies
// to find the baseline's best: same pool size, batched completion, and a process of its own. Run by
// bench/engine.ts, not by hand:
//
//   DATABASE_URL=... WORKER_CONCURRENCY=4 BENCH_JOBS=100000 BENCH_LOCAL_QUEUE=500 node bench/raw_worker.ts
//
// BENCH_LOCAL_QUEUE is the local queue's size; 0 runs without one (each slot fetches its own job).
// It tells its parent (IPC) when it is ready (running, and listening for new jobs: its start-up is
// no part of the baseline's clock, as finishline's worker is started before its clock too), and
// when its task has run BENCH_JOBS times: only then need the parent poll for an empty jobs table
// (a poll that scans the dead rows of deleted jobs, running all along, would slow the baseline).
// It stops on SIGTERM, and exits when its parent goes away (no orphan keeps the database busy).
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { Logger, run, type TaskList, type WorkerEvents } from 'graphile-worker';

export const RAW_TASK = 'bench_raw_noop';
const LOCAL_QUEUE_SIZE = Number(process.env.BENCH_LOCAL_QUEUE ?? 0);

/** `ranAllAt`: epoch milliseconds, sub-millisecond precision. */
export type RawWorkerMessage = { ready: true } | { ranAllAt: number };

const now = () => performance.timeOrigin + performance.now();
const expectedJobs = Number(process.env.BENCH_JOBS || Infinity);
let ran = 0;

// Graphile Worker logs every completed job at info; only warnings and errors are worth a line.
const quietLogger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') process.stderr.write(`${level}: ${message}\n`);
});

const taskList: TaskList = {
  [RAW_TASK]: async () => {
    if (++ran === expectedJobs) process.send?.({ ranAllAt: now() } satisfies RawWorkerMessage);
  },
};

async function main(): Promise<void> {
  const concurrency = Number(process.env.WORKER_CONCURRENCY || 4);
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: concurrency * 2 + 4, idleTimeoutMillis: 0 });
  // As in server/worker/worker.ts: graphile-worker insists on error handlers on the pool and its clients.
  pool.on('error', (error) => process.stderr.write(`idle connection failed: ${error.message}\n`));
  pool.on('connect', (client) => client.on('error', (error) => process.stderr.write(`connection failed: ${error.message}\n`)));
  const events: WorkerEvents = new EventEmitter();
  const listening = new Promise<void>((resolve) => events.once('pool:listen:success', () => resolve()));
  const runner = await run({
    pgPool: pool,
    taskList,
    concurrency,
    noHandleSignals: true,
    logger: quietLogger,
    events,
    preset: { worker: { ...(LOCAL_QUEUE_SIZE > 0 ? { localQueue: { size: LOCAL_QUEUE_SIZE } } : {}), completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
  });
  let stopping = false;
  process.once('SIGTERM', () => {
    stopping = true;
    void runner
      .stop()
      .then(() => pool.end())
      .then(() => process.exit(0));
  });
  process.once('disconnect', () => process.exit(1));
  await listening;
  process.send?.({ ready: true } satisfies RawWorkerMessage);
  await runner.promise;
  // A runner stops by itself only when its pool failed (its logger said why). Left alive, this
  // process would keep the benchmark waiting for jobs that no one runs.
  if (!stopping) throw new Error('the runner stopped on its own');
}

if (import.meta.main) main().catch((error: unknown) => {
  process.stderr.write(`raw worker failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

// The worker: Graphile Worker with our task list and crontab, a heartbeat in app_private.workers,
// and a clean shutdown that leaves no item `processing`.
import { EventEmitter } from 'node:events';
import os from 'node:os';
import pg from 'pg';
import { run, type Runner, type WorkerEvents } from 'graphile-worker';
import { taskList } from '../tasks/index.ts';
import { parsedCrontab, registerSchedules } from './scheduler.ts';
import { workerLogger, type Log } from './log.ts';

export interface WorkerOptions {
  connectionString: string;
  concurrency: number;
  log: Log;
  /** The recommender's debounce and ceiling, written to app_private.recommender_settings. */
  retrain: { debounceSeconds: number; maxWaitSeconds: number };
}

export interface Worker {
  /** Finishes jobs in flight (or releases their items), then removes the heartbeat. */
  stop(): Promise<void>;
  /** Settles when the worker stops, or rejects if it crashes. */
  done: Promise<void>;
}

// How many jobs a worker locks ahead of running them; batching the fetch is what makes
// Graphile Worker fast, and a chunk job already carries many items.
const LOCAL_QUEUE_SIZE = 50;

export async function startWorker({ connectionString, concurrency, log, retrain }: WorkerOptions): Promise<Worker> {
  // Up to two connections per job (an import streams a file on one while copying on the other),
  // plus what Graphile Worker needs for itself.
  const pool = new pg.Pool({ connectionString, max: concurrency * 2 + 4 });
  pool.on('error', (error) => log.error('idle database connection failed', { error }));
  pool.on('connect', (client) => client.on('error', (error) => log.error('database connection failed', { error })));
  const staleAfterMs = Number(
    (await pool.query<{ ms: string }>('select extract(epoch from app_private.worker_stale_after()) * 1000 as ms')).rows[0].ms,
  );

  // The product triggers read these when they enqueue a retrain (every process sets the same).
  await pool.query(
    'update app_private.recommender_settings set debounce = make_interval(secs => $1), max_wait = make_interval(secs => $2)',
    [retrain.debounceSeconds, retrain.maxWaitSeconds],
  );

  const crontab = parsedCrontab();
  await registerSchedules(pool, crontab.text, crontab.items);

  let workerId: string | undefined;
  const heartbeat = async () => {
    if (!workerId) return;
    try {
      const { rows } = await pool.query<{ sweep: boolean }>(
        'select app_private.record_worker_heartbeat($1, $2, $3, $4) as sweep',
        [workerId, os.hostname(), process.pid, concurrency],
      );
      if (rows[0].sweep) log.warn('a worker stopped beating: sweep enqueued', { worker_id: workerId });
    } catch (error) {
      log.error('heartbeat failed', { worker_id: workerId, error });
    }
  };
  const events: WorkerEvents = new EventEmitter();
  events.on('pool:create', ({ workerPool }) => {
    workerId = workerPool.id;
    log.info('worker started', { worker_id: workerId, concurrency, pid: process.pid });
    void heartbeat();
  });
  events.on('job:error', ({ job, error }) => {
    log.error('job failed', { task: job.task_identifier, job_id: job.id, attempts: job.attempts, error });
  });
  const beating = setInterval(() => void heartbeat(), Math.max(100, staleAfterMs / 6));

  let runner: Runner;
  try {
    runner = await run({
      pgPool: pool,
      taskList,
      parsedCronItems: crontab.items,
      concurrency,
      noHandleSignals: true,
      events,
      logger: workerLogger,
      preset: {
        worker: {
          localQueue: { size: LOCAL_QUEUE_SIZE },
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
          gracefulShutdownAbortTimeout: 10_000,
        },
      },
    });
  } catch (error) {
    clearInterval(beating);
    await pool.end();
    throw error;
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.info('worker stopping: finishing jobs in flight', { worker_id: workerId });
      try {
        await runner.stop();
      } catch (error) {
        log.error('worker did not stop cleanly', { worker_id: workerId, error });
      }
      clearInterval(beating);
      if (workerId) {
        // Whatever is still claimed goes back to the queue without spending an attempt.
        const { rows } = await pool.query<{ released: number }>('select app_private.forget_worker($1) as released', [workerId]);
        if (rows[0].released > 0) log.warn('released items still held at shutdown', { worker_id: workerId, items: rows[0].released });
      }
      await pool.end();
      log.info('worker stopped', { worker_id: workerId });
    })());

  const done = runner.promise.finally(() => clearInterval(beating));
  return { stop, done };
}

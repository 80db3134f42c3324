// The worker: Graphile Worker with our task list and crontab, kept running through database
// outages, with a liveness connection of its own, and a clean shutdown that leaves no item
// `processing`.
//
// Graphile Worker shuts its pool down when the database fails a statement it does not retry (a
// job's completion, its LISTEN); its runner's promise then resolves as after a clean stop, or
// never settles. So runners are supervised: when a pool stops on its own, a new one starts at
// once (with backoff while the database stays away), and once the old one has finished what it
// was running, what it still holds goes back to the queue with its attempts unspent. A pool can
// also wedge without stopping: Graphile Worker keeps the failed promise of its first lookup of
// task ids and rejects every later fetch with it, so a pool whose first fetch met an outage never
// fetches again; it is told by that same error coming back, and replaced.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { run, type Runner, type TaskList, type WorkerEvents } from 'graphile-worker';
import { isDatabaseUnavailable, whileUnavailable } from '../db/errors.ts';
import { dropConnection, PROBE_SILENT_CLIENTS, PROBE_SILENT_SERVER } from '../db/dead_peers.ts';
import { SESSION_SETTINGS } from '../db/session.ts';
import { workerLogger, type Log } from '../log.ts';
import { startLiveness } from './liveness.ts';
import { parsedCrontab, recordingScheduledRuns, registerSchedules, type CrontabOptions } from './scheduler.ts';

export interface WorkerOptions {
  connectionString: string;
  concurrency: number;
  /** The tasks: one file each, named after its identifier (Graphile Worker's convention). */
  taskDirectory: string;
  crontab: CrontabOptions;
  log: Log;
  /** The recommender's debounce and ceiling, written to app_private.recommender_settings. */
  retrain: { debounceSeconds: number; maxWaitSeconds: number };
  /** How long finished work is kept, written to app_private.retention_settings for the prune task. */
  retention: { itemDays: number; batchDays: number };
}

export interface Worker {
  /** Finishes jobs in flight (or gives their items back), then forgets the worker. */
  stop(): Promise<void>;
  /** Settles when the worker stops; rejects if it met an error it cannot recover from. */
  done: Promise<void>;
}

/**
 * A pool whose fetches of jobs have all failed for this long while it runs counts as wedged, even
 * with a new error each time: a pool that cannot fetch is no pool.
 */
const WEDGED_AFTER_MS = 60_000;

/** Delays before starting a new runner after one stopped, growing while the database stays away. */
const RESTART_MS = { first: 200, max: 5000 };

/** A pool that stops within this long of the database seen away (see databaseAwayAt) stopped because of it. */
const OUTAGE_EXPLAINS_MS = 30_000;

/**
 * The longest a pool that stopped on its own may finish the jobs it runs before what it holds is
 * given back anyway: Graphile Worker aborts them after gracefulShutdownAbortTimeout (10 s).
 */
const RETIRE_WITHIN_MS = 12_000;

/** The tasks of a directory: each `<identifier>.ts` file's default export (the crontab lives there too). */
async function loadTasks(directory: string): Promise<TaskList> {
  const files = fs.readdirSync(directory).filter((file) => file.endsWith('.ts'));
  return Object.fromEntries(await Promise.all(files.map(async (file) =>
    [path.basename(file, '.ts'), (await import(pathToFileURL(path.join(directory, file)).href)).default])));
}

/**
 * Graphile Worker's LISTEN connection can be given back to the pool twice when its error and a
 * shutdown of its pool race (both release it; the second release rejects, unhandled). pg-pool
 * refuses the second release before it touches anything, so the process is as it was: this error
 * is no reason to exit.
 */
export function isListenConnectionReleasedTwice(error: unknown): boolean {
  return error instanceof Error
    && error.message === 'Release called on client which has already been released to the pool.'
    && /graphile-worker[\\/]dist[\\/]main\.js/.test(error.stack ?? '');
}

/**
 * A worker whose pool can outgrow what the database has left takes every connection there is
 * once its slots are busy, and psql, servers and other workers are refused ("too many clients"):
 * said at start, with what to change. (Connections of superusers' reserve are not counted.)
 */
async function warnOfTooFewConnections(pool: pg.Pool, concurrency: number, log: Log): Promise<void> {
  const { rows: [room] } = await pool.query<{ allowed: number; in_use: number }>(`
    select current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int as allowed,
      (select count(*)::int from pg_stat_activity where backend_type = 'client backend') as in_use`);
  // The pool and the liveness connection (its first connection is in use already).
  const needs = concurrency * 2 + 5 - 1;
  if (needs > room.allowed - room.in_use) {
    log.warn(`the worker may open ${needs} connections, more than the ${room.allowed - room.in_use} the database has left: lower WORKER_CONCURRENCY or raise max_connections`, {
      worker_concurrency: concurrency, max_connections_for_users: room.allowed, connections_in_use: room.in_use,
    });
  }
}

export async function startWorker({ connectionString, concurrency, taskDirectory, crontab: crontabOptions, log, retrain, retention }: WorkerOptions): Promise<Worker> {
  // Up to two connections per job (an import streams a file on one while copying on the other),
  // plus what Graphile Worker needs for itself. Kept open while idle: a new connection prepares
  // finishline's functions on its first calls, tens of milliseconds of the database's CPU each.
  const pool = new pg.Pool({
    connectionString, max: concurrency * 2 + 4, idleTimeoutMillis: 0, application_name: 'finishline worker', ...PROBE_SILENT_SERVER,
    // Should its machine die, the database drops its connections within seconds, their locks too.
    onConnect: async (client) => void await client.query(`${PROBE_SILENT_CLIENTS}; ${SESSION_SETTINGS}`),
  });
  // Its connections, to drop them all when the database stops answering (see startLiveness).
  const connections = new Set<pg.Client>();
  /**
   * When the worker last saw the database away (a connection lost, or an error saying so, such as
   * writes refused): a pool that stops soon after stopped for the outage.
   */
  let databaseAwayAt = -Infinity;
  const noteIfAway = (error: unknown) => {
    if (isDatabaseUnavailable(error)) databaseAwayAt = Date.now();
  };
  pool.on('error', (error) => {
    databaseAwayAt = Date.now();
    log.warn('idle worker database connection lost', { error: error.message });
  });
  pool.on('connect', (client) => {
    const connection = client as pg.Client;
    connections.add(connection);
    connection.on('end', () => connections.delete(connection));
    connection.on('error', (error) => {
      databaseAwayAt = Date.now();
      log.warn('worker database connection lost', { error: error.message });
    });
  });

  const crontab = parsedCrontab(crontabOptions);
  const tasks = recordingScheduledRuns(await loadTasks(taskDirectory), crontab.items);
  const staleAfterMs = await whileUnavailable(async () => {
    // The product triggers read these when they enqueue a retrain (every process sets the same).
    await pool.query(
      'update app_private.recommender_settings set debounce = make_interval(secs => $1), max_wait = make_interval(secs => $2)',
      [retrain.debounceSeconds, retrain.maxWaitSeconds],
    );
    // The prune task reads these (every worker sets the same).
    await pool.query(
      'update app_private.retention_settings set item_retention = make_interval(days => $1), batch_retention = make_interval(days => $2)',
      [retention.itemDays, retention.batchDays],
    );
    await registerSchedules(pool, crontab.text, crontab.items);
    await warnOfTooFewConnections(pool, concurrency, log);
    const { rows } = await pool.query<{ ms: string }>('select extract(epoch from app_private.worker_stale_after()) * 1000 as ms');
    return Number(rows[0].ms);
  }, { log, what: 'starting the worker' });

  const liveness = startLiveness({
    connectionString, concurrency, log, beatEveryMs: Math.max(100, staleAfterMs / 5),
    onUnanswered: () => {
      for (const connection of connections) dropConnection(connection);
    },
  });

  let stopping = false;
  let current: { runner: Runner; id: string } | undefined;
  /** Pools that stopped on their own and still finish what they were running. */
  const retiring = new Set<Promise<void>>();

  /**
   * Once a pool that stopped on its own has finished (or given up) what it was running, what it
   * still holds goes back with its attempts unspent; its heartbeat went on meanwhile, so that
   * no other worker took its items while it ran them.
   */
  const retire = ({ runner, id, idle }: { runner: Runner; id: string; idle: () => Promise<void> }) => {
    const retired = (async () => {
      await Promise.race([idle(), sleep(RETIRE_WITHIN_MS)]);
      // A wedged pool is still running: stop it (one that shut down already says so).
      await Promise.race([runner.stop().catch(() => {}), sleep(RETIRE_WITHIN_MS)]);
      await liveness.forget(id);
    })().catch((error: unknown) => log.error('could not give back what a stopped worker pool held', { worker_id: id, error: (error as Error).message }));
    retiring.add(retired);
    void retired.finally(() => retiring.delete(retired));
  };

  /** Starts a runner; resolves when it is running, with a promise that settles when its pool stops on its own. */
  const startRunner = async () => {
    const events: WorkerEvents = new EventEmitter();
    let id: string | undefined;
    let died!: (reason: string) => void;
    const death = new Promise<string>((resolve) => (died = resolve));
    // Jobs running now, so that a pool that stopped on its own is retired once they are done; and
    // when each ended, so that its heartbeat names as its own (see return_lost_jobs) those it runs
    // and those it finished within staleAfterMs, whose completion may not have committed yet.
    let running = 0;
    const endedAt = new Map<string, number>();
    let nowIdle: (() => void) | undefined;
    const idle = () => (running === 0 ? Promise.resolve() : new Promise<void>((resolve) => (nowIdle = resolve)));
    events.on('job:start', ({ job }) => {
      running++;
      endedAt.set(job.id, Infinity);
    });
    events.on('job:complete', ({ job }) => {
      endedAt.set(job.id, Date.now());
      if (--running === 0) nowIdle?.();
    });
    const runningJobIds = () => {
      for (const [jobId, ended] of endedAt) if (ended < Date.now() - staleAfterMs) endedAt.delete(jobId);
      return [...endedAt.keys()];
    };
    events.on('pool:create', ({ workerPool }) => {
      id = workerPool.id;
      liveness.add(id, runningJobIds);
      log.info('worker started', { worker_id: id, concurrency, pid: process.pid });
    });
    // Graphile Worker shuts a pool down when it cannot record a job's completion (its database
    // went away); its runner's promise may then never settle, so the shutdown itself is the sign.
    events.on('pool:gracefulShutdown', ({ message }) => died(message));
    events.on('pool:forcefulShutdown', ({ message }) => died(message));
    // Graphile Worker stops the pool when it cannot record jobs' outcomes (writes refused, say).
    events.on('pool:fatalError', ({ error }) => noteIfAway(error));
    events.on('job:error', ({ job, error }) => {
      noteIfAway(error);
      // A job cut off by an outage runs again once the database is back: nothing for anyone to do.
      const failed = isDatabaseUnavailable(error) ? log.warn : log.error;
      failed('job failed', { task: job.task_identifier, job_id: job.id, attempts: job.attempts, error });
    });
    let lastFetchError: unknown;
    let failingSince: number | undefined;
    const fetched = () => {
      lastFetchError = undefined;
      failingSince = undefined;
    };
    events.on('worker:getJob:empty', fetched);
    events.on('job:start', fetched);
    events.on('worker:getJob:error', ({ error }) => {
      noteIfAway(error);
      if (error === lastFetchError) died(`its job fetching is wedged on an error it keeps: ${String(error)}`);
      else if (Date.now() - (failingSince ??= Date.now()) > WEDGED_AFTER_MS) died(`its fetches of jobs failed for ${WEDGED_AFTER_MS / 1000} s: ${String(error)}`);
      lastFetchError = error;
    });
    const runner = await run({
      pgPool: pool,
      taskList: tasks,
      parsedCronItems: crontab.items,
      concurrency,
      noHandleSignals: true,
      events,
      logger: workerLogger,
      // No local queue: each of the pool's slots fetches a job when it is free, so a worker never
      // holds chunks it cannot start while another worker idles.
      preset: {
        worker: {
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
          gracefulShutdownAbortTimeout: 10_000,
        },
      },
    });
    void runner.promise.then(() => died('its pool stopped'), (error: unknown) => died(String(error)));
    return { runner, id: id!, death, idle };
  };

  const supervise = async () => {
    for (let restart = 0; !stopping; restart++) {
      let started: Awaited<ReturnType<typeof startRunner>>;
      try {
        started = await startRunner();
      } catch (error) {
        if (!isDatabaseUnavailable(error)) throw error;
        log.warn('database unavailable: could not start the worker pool', { error: (error as Error).message });
        await sleep(Math.min(RESTART_MS.first * 2 ** restart, RESTART_MS.max));
        continue;
      }
      current = started;
      const startedAt = Date.now();
      const reason = await started.death;
      if (stopping) return;
      // Through an outage this is how the worker rides it out; otherwise it is unexplained.
      const stoppedInOutage = Date.now() - databaseAwayAt < OUTAGE_EXPLAINS_MS;
      (stoppedInOutage ? log.warn : log.error)('the worker pool stopped on its own: starting a new one; what it held goes back once it has stopped', { worker_id: started.id, reason });
      retire(started);
      if (Date.now() - startedAt > 30_000) restart = 0;
      await sleep(Math.min(RESTART_MS.first * 2 ** restart, RESTART_MS.max));
    }
  };

  const done = supervise();
  done.catch(() => {});

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping = true;
      log.info('worker stopping: finishing jobs in flight', { worker_id: current?.id });
      try {
        await current?.runner.stop();
      } catch (error) {
        // Already stopped on its own: what it held is given back below.
        log.warn('worker pool had stopped already', { worker_id: current?.id, error: (error as Error).message });
      }
      await done.catch(() => {});
      await Promise.all(retiring);
      // Whatever is still claimed goes back to the queue without spending an attempt; if the
      // database stays away, the next heartbeat of another worker gives it back once it is here.
      if (current) await liveness.forget(current.id, { upToMs: 10_000 }).catch((error: unknown) => log.error('could not give back what the worker held', { worker_id: current?.id, error: (error as Error).message }));
      await liveness.stop();
      await pool.end();
      log.info('worker stopped', { worker_id: current?.id });
    })());

  return { stop, done };
}

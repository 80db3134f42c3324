// A worker process's liveness connection: it beats for each Graphile Worker pool of the process,
// holding an advisory lock for the pool as long as the connection lives (so that a busy event
// loop is not taken for a dead process) and naming the jobs the pool runs (a job locked for it
// that it does not run was lost on its way, and is given back), and it listens for cancelled
// batches, whose running items it aborts. It reconnects, with backoff, whenever the database
// drops it.
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { isDatabaseUnavailable, whileUnavailable } from '../db/errors.ts';
import { dropConnection, PROBE_SILENT_CLIENTS, PROBE_SILENT_SERVER } from '../db/dead_peers.ts';
import { SESSION_SETTINGS } from '../db/session.ts';
import type { Log } from '../log.ts';
import { runningItems } from './item_task.ts';

export interface Liveness {
  /** A pool of this process, which beats and holds its lock from now on; `runningJobIds` names the jobs it runs. */
  add(id: string, runningJobIds: () => string[]): void;
  /** Gives back what the pool holds (forget_worker) and stops beating for it. */
  forget(id: string, options?: { upToMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * How long a heartbeat may go unanswered before the database counts as unreachable, counting only
 * time the event loop was free to hear the answer. A statement sent into a connection whose other
 * end vanished is retried by the operating system for a quarter of an hour, unprobed.
 */
const UNANSWERED_AFTER_MS = 10_000;

export interface LivenessOptions {
  connectionString: string;
  concurrency: number;
  log: Log;
  beatEveryMs: number;
  /** Called when a heartbeat went unanswered for UNANSWERED_AFTER_MS: the process's other connections are as likely lost. */
  onUnanswered: () => void;
}

export function startLiveness({ connectionString, concurrency, log, beatEveryMs, onUnanswered }: LivenessOptions): Liveness {
  let client: pg.Client | null = null;
  let connected: Promise<void> = Promise.resolve();
  const pools = new Map<string, () => string[]>();
  let stopped = false;
  let beating = false;
  /** How long the beat in flight has waited for its answer while the event loop was free. */
  let waited = 0;
  let lastTick = Date.now();

  const beat = async () => {
    if (!client || beating) return;
    beating = true;
    waited = 0;
    try {
      for (const [id, runningJobIds] of pools) {
        const { rows: [beat] } = await client.query<{ dead_workers: number; lost_jobs: number }>(
          'select dead_workers, lost_jobs from app_private.record_worker_heartbeat($1, $2, $3, $4, $5::bigint[])',
          [id, os.hostname(), process.pid, concurrency, runningJobIds()],
        );
        if (beat.lost_jobs > 0) log.warn('gave back jobs locked for this worker whose fetch was lost with its connection', { worker_id: id, jobs: beat.lost_jobs });
        if (beat.dead_workers > 0) log.warn('gave back the items and jobs of workers that stopped', { workers: beat.dead_workers });
      }
    } catch (error) {
      if (!isDatabaseUnavailable(error)) log.error('heartbeat failed', { error: (error as Error).message });
    } finally {
      beating = false;
    }
  };

  const connect = async () => {
    for (let delay = 100; !stopped; delay = Math.min(delay * 2, 2000)) {
      const candidate = new pg.Client({ connectionString, application_name: 'finishline worker', connectionTimeoutMillis: UNANSWERED_AFTER_MS, ...PROBE_SILENT_SERVER });
      candidate.on('error', () => {});
      try {
        await candidate.connect();
        // Its lock says the worker lives: a worker whose machine died must lose it within seconds.
        // Keepalive probes wait while data the database sent is unacknowledged (a heartbeat's
        // answer, a notification), so such data unacknowledged for 8 s drops it too.
        await candidate.query(`${PROBE_SILENT_CLIENTS}; ${SESSION_SETTINGS}; set tcp_user_timeout = 8000`);
        candidate.on('notification', ({ payload }) => {
          if (!payload) return;
          const aborted = runningItems.cancelBatch(payload);
          if (aborted > 0) log.info('batch cancelled: aborted its running chunks', { batch_id: payload, chunks: aborted });
        });
        await candidate.query('listen finishline_batch_cancelled');
        candidate.on('end', () => {
          client = null;
          if (!stopped) connected = connect();
        });
        client = candidate;
        await beat();
        return;
      } catch {
        await candidate.end().catch(() => {});
        await sleep(delay);
      }
    }
  };
  connected = connect();
  const tick = () => {
    const now = Date.now();
    // A timer that fires late was held up by a busy event loop, which heard no answer either.
    waited += Math.min(now - lastTick, 2 * beatEveryMs);
    lastTick = now;
    if (!beating) return void beat();
    if (waited < UNANSWERED_AFTER_MS || !client) return;
    log.warn(`the database has not answered a heartbeat for ${UNANSWERED_AFTER_MS / 1000} s: dropping the worker's connections, whose answers may never come`);
    waited = 0;
    dropConnection(client);
    onUnanswered();
  };
  const timer = setInterval(tick, beatEveryMs);

  return {
    add(id, runningJobIds) {
      pools.set(id, runningJobIds);
      void beat();
    },
    async forget(id, { upToMs } = {}) {
      // First: a beat that comes due while forget_worker runs would record the pool again
      // after it, as a worker that then died.
      pools.delete(id);
      await whileUnavailable(async () => {
        await connected;
        if (!client) throw Object.assign(new Error('Connection terminated: the liveness connection is reconnecting'), { code: '08006' });
        const { rows } = await client.query<{ released: number }>('select app_private.forget_worker($1) as released', [id]);
        if (rows[0].released > 0) log.warn('gave back items the worker still held', { worker_id: id, items: rows[0].released });
      }, { log, what: 'giving back what the worker held', upToMs });
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await client?.end().catch(() => {});
    },
  };
}

// GET /health: 200 when the database answers, its migrations are current and a worker's
// heartbeat is fresh; 503 with the reasons otherwise.
import type pg from 'pg';
import { pendingMigrations } from '../db/migrate.ts';

export interface Health {
  ok: boolean;
  problems: string[];
  live_workers?: number;
}

/** A database slower than this to answer is a problem: /health says so rather than keep a probe waiting. */
const HEALTH_TIMEOUT_MS = 5_000;

export async function checkHealth(pool: pg.Pool): Promise<Health> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Health>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, problems: [`the database did not answer within ${HEALTH_TIMEOUT_MS} ms`] }), HEALTH_TIMEOUT_MS);
  });
  try {
    return await Promise.race([inspect(pool), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function inspect(pool: pg.Pool): Promise<Health> {
  const problems: string[] = [];
  let liveWorkers: number | undefined;
  try {
    const pending = await pendingMigrations(pool);
    if (pending.length > 0) problems.push(`migrations not applied: ${pending.join(', ')}`);
    const { rows } = await pool.query<{ n: number }>(
      'select count(*)::int as n from app_private.workers where app_private.worker_is_alive(id)',
    );
    liveWorkers = rows[0].n;
    if (liveWorkers === 0) problems.push('no worker has a fresh heartbeat: batches will not move');
  } catch (error) {
    problems.push(`database unreachable: ${(error as Error).message}`);
  }
  return { ok: problems.length === 0, problems, live_workers: liveWorkers };
}

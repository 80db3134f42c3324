// What a prune does to a batch that runs beside it, measured the same way by the retention tests
// and bench:retention: from outside, through pg_stat_activity, and from the items' own timestamps.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

export interface PruneSample {
  at: Date;
  /** Whether a prune (or the vacuum after it) was running. */
  pruning: boolean;
  /** How many backends were waiting on a lock that a prune backend held. */
  blocked: number;
}

/** The window in which the prune ran, as sampled, and how many samples saw a backend wait on it. */
export interface PruneWindow {
  from: number;
  to: number;
  lockWaits: number;
}

/** Samples every 10 ms, on a connection of its own, until `stop` returns what it saw. */
export async function watchPrune(pool: pg.Pool): Promise<{ stop(): Promise<PruneWindow | null> }> {
  const sampler = await pool.connect();
  const samples: PruneSample[] = [];
  let sampling = true;
  const sampled = (async () => {
    while (sampling) {
      const { rows } = await sampler.query<PruneSample>(`
        with prune as (
          select pid from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and state = 'active'
            and (query ilike '%prune_finished_batches(%' or query ilike 'vacuum%'))
        select clock_timestamp() as at, exists (select 1 from prune) as pruning,
          (select count(*)::int from pg_stat_activity a
           where a.datname = current_database() and pg_blocking_pids(a.pid) && array(select pid from prune)) as blocked`);
      samples.push(rows[0]);
      await sleep(10);
    }
  })();
  return {
    async stop() {
      sampling = false;
      await sampled.finally(() => sampler.release());
      const during = samples.filter((sample) => sample.pruning);
      if (during.length === 0) return null;
      return {
        from: during[0].at.getTime(),
        to: during.at(-1)!.at.getTime(),
        lockWaits: samples.filter((sample) => sample.blocked > 0).length,
      };
    },
  };
}

/**
 * The gaps (ms, ascending) between consecutive item finishes of a batch, for the finishes inside a
 * window: how long the batch went without finishing an item.
 */
export async function finishGaps(pool: pg.Pool, batchId: string, inWindow: (at: number) => boolean): Promise<number[]> {
  const { rows } = await pool.query<{ ms: number }>(
    `select extract(epoch from finished_at) * 1000 as ms from app_public.batch_items
     where batch_id = $1 and status = 'succeeded' order by finished_at`, [batchId]);
  const times = rows.map((row) => Number(row.ms));
  return times.slice(1).flatMap((at, i) => (inWindow(at) ? [at - times[i]] : [])).sort((a, b) => a - b);
}

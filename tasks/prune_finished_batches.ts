// Removes finished work past its retention (see app_public.prune_finished_batches), daily from
// the crontab. Each call of the function is its own transaction and removes a bounded number of
// rows, so that workers and writers never wait on the prune; then the tables it pruned are
// vacuumed (on this connection, outside any transaction), so that new rows reuse the space at once
// rather than when autovacuum's thresholds are next met.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Task } from 'graphile-worker';
import { withoutStatementTimeout } from '../server/db/session.ts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      prune_finished_batches: Record<string, never>;
    }
  }
}

interface PrunedRows {
  items: string;
  batches_emptied: number;
  batches: string;
  run_summaries: string;
  catalog_file_chunks: string;
  catalog_files_emptied: number;
  sweeper_repairs: string;
  more: boolean;
}

/** The tables each count of pruned_rows comes from, vacuumed when it is not zero. */
const PRUNED_TABLES: Record<string, string[]> = {
  items: ['app_public.batch_items'],
  batches: ['app_public.batches', 'app_private.batch_counter_slots', 'app_public.run_summaries'],
  catalog_file_chunks: ['app_private.catalog_file_chunks'],
  sweeper_repairs: ['app_private.sweeper_repairs'],
};

/** Rows removed per call (per transaction): a few milliseconds of work each. */
const ROWS_PER_CALL = 2000;

export const prune_finished_batches: Task = async (_payload, helpers) => {
  const removed: Record<string, number> = {};
  const startedAt = performance.now();
  let pruneSeconds = 0;
  await helpers.withPgClient(async (client) => {
    for (let more = true; more;) {
      const callStartedAt = performance.now();
      const { rows } = await client.query<PrunedRows>(
        `select p.* from app_private.retention_settings s,
           app_public.prune_finished_batches(s.item_retention, s.batch_retention, $1) p`,
        [ROWS_PER_CALL],
      );
      const { more: again, ...counts } = rows[0];
      for (const [name, value] of Object.entries(counts)) removed[name] = (removed[name] ?? 0) + Number(value);
      more = again;
      // Paced: a pause twice as long as the call took, so that the prune takes at most a third of
      // a core from the workers' transactions, which share the database's CPUs with it.
      if (more) await sleep(2 * (performance.now() - callStartedAt));
    }
    pruneSeconds = (performance.now() - startedAt) / 1000;
    // At autovacuum's pace (its default cost delay; a manual VACUUM has none), for the same reason:
    // slow on purpose.
    await client.query(`set vacuum_cost_delay = '2ms'`);
    try {
      await withoutStatementTimeout(client, async () => {
        for (const [name, tables] of Object.entries(PRUNED_TABLES)) {
          if (removed[name] > 0) await client.query(`vacuum (analyze) ${tables.join(', ')}`);
        }
      });
    } finally {
      await client.query('reset vacuum_cost_delay');
    }
  });
  helpers.logger.info('pruned finished batches', {
    removed,
    prune_seconds: Math.round(pruneSeconds * 1000) / 1000,
    vacuum_seconds: Math.round(performance.now() - startedAt - pruneSeconds * 1000) / 1000,
  });
};

export default prune_finished_batches;

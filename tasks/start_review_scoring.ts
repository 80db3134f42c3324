// Crontab (REVIEW_SCORING_CRON): starts a score_reviews run for every tenant. Trains a first
// review scorer if there is none yet; each run's finalization starts its seller run.
import type { Task } from 'graphile-worker';
import { activeOrFirstReviewScorer } from '../server/ml/models.ts';
import { recordScheduledBatches } from '../server/worker/scheduler.ts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      start_review_scoring: Record<string, unknown>;
    }
  }
}

export const start_review_scoring: Task = async (_payload, helpers) => {
  await helpers.withPgClient(async (client) => {
    if (!(await activeOrFirstReviewScorer(client))) helpers.logger.warn('no labelled reviews to train a review scorer on yet');
    const { rows } = await client.query<{ id: string; tenant_id: string; total_items: number }>(
      'select b.id, b.tenant_id, b.total_items from app_public.tenants t cross join lateral app_private.start_review_scoring(t.id) b',
    );
    await recordScheduledBatches(client, 'start_review_scoring', rows.map((row) => row.id));
    helpers.logger.info('review scoring started', { batches: rows.length, chunks: rows.reduce((sum, row) => sum + row.total_items, 0) });
  });
};

export default start_review_scoring;

// Brings product recommendations up to date. Enqueued by the database (triggers on products, job
// key `retrain_recommender`, queue `recommender`) after a burst of changes; a failure is retried
// with Graphile Worker's backoff while the last good version keeps serving.
import type { Task } from 'graphile-worker';
import { retrainRecommender } from '../server/ml/recommender.ts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      retrain_recommender: Record<string, unknown>;
    }
  }
}

export const retrain_recommender: Task = async (_payload, helpers) => {
  const outcome = await helpers.withPgClient((client) => retrainRecommender(client));
  if (outcome.versionId) helpers.logger.info('recommender retrained', { version: outcome.versionId, metrics: outcome.metrics });
  else helpers.logger.info('recommender already up to date', { metrics: outcome.metrics });
};

export default retrain_recommender;

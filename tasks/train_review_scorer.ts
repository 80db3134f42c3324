// Trains a new review scorer from the labelled reviews; it replaces the active one only if its
// held-out metrics are not worse (the version's metrics say why when it is kept out).
import type { Task } from 'graphile-worker';
import { trainAndStoreReviewScorer } from '../server/ml/models.ts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      train_review_scorer: Record<string, unknown>;
    }
  }
}

export const train_review_scorer: Task = async (_payload, helpers) => {
  const outcome = await helpers.withPgClient((client) => trainAndStoreReviewScorer(client));
  if (!outcome) helpers.logger.warn('not enough labelled reviews (of both verdicts) to train a review scorer');
  else helpers.logger.info(outcome.activated ? 'new review scorer activated' : 'new review scorer kept out', { version: outcome.versionId, metrics: outcome.metrics });
};

export default train_review_scorer;

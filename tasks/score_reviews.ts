// Kind `score_reviews`: one item is a chunk of review ids. One query reads the chunk's features,
// the active review_scorer (ONNX, onnxruntime-node) runs once, one statement writes the scores.
import { PermanentItemError, idList, itemTask, type ChunkPayload } from '../server/worker/item_task.ts';
import { activeOrFirstReviewScorer } from '../server/ml/models.ts';
import { FEATURE_COUNT, featurize, type ReviewFeatureRow } from '../server/ml/review_features.ts';
import { scoreReviews } from '../server/ml/scoring.ts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      score_reviews: ChunkPayload;
    }
  }
}

/**
 * Feature buffers, reused: a chunk's dense features are ~16 MB, and touching fresh memory costs
 * more than computing them. One buffer per job in flight (onnxruntime reads it asynchronously).
 */
const freeBuffers: Float32Array[] = [];

async function withFeatureBuffer<T>(size: number, fn: (buffer: Float32Array) => Promise<T>): Promise<T> {
  let buffer = freeBuffers.pop();
  if (!buffer || buffer.length < size) buffer = new Float32Array(size);
  try {
    return await fn(buffer);
  } finally {
    freeBuffers.push(buffer);
  }
}

export const score_reviews = itemTask<string[]>({
  parse: (payload) => idList(payload, 'review_ids'),
  async run(reviewIds, { helpers }) {
    return helpers.withPgClient(async (client) => {
      const model = await activeOrFirstReviewScorer(client);
      if (!model) throw new PermanentItemError('no review scorer, and no labelled reviews of both verdicts (moderation_verdict) to train one on');
      const { rows } = await client.query<ReviewFeatureRow>('select * from app_private.review_features($1::uuid[])', [reviewIds]);
      const scores =
        rows.length === 0
          ? new Float32Array(0)
          : await withFeatureBuffer(rows.length * FEATURE_COUNT, (buffer) =>
              scoreReviews(model.session, featurize(rows, buffer), rows.length, FEATURE_COUNT),
            );
      const { rows: [written] } = await client.query<{ n: number }>(
        'select app_private.record_review_scores($1, $2::uuid[], $3::real[]) as n',
        [model.id, rows.map((row) => row.review_id), Array.from(scores)],
      );
      return { reviews_scored: written.n, reviews_gone: reviewIds.length - rows.length };
    });
  },
});

export default score_reviews;

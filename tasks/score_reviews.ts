// Kind `score_reviews`: one item is a chunk of review ids. One query reads the chunk's features,
// the active review_scorer (ONNX, onnxruntime-node) runs once, one statement writes the scores.
import { PermanentItemError, idList, itemTask, type ChunkPayload } from '../server/item_task.ts';
import { activeModel } from '../server/ml/models.ts';
import { FEATURE_COUNT, featurize, type ReviewFeatureRow } from '../server/ml/review_features.ts';
import { scoreReviews } from '../server/ml/scoring.ts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      score_reviews: ChunkPayload;
    }
  }
}

export const score_reviews = itemTask<string[]>({
  parse: (payload) => idList(payload, 'review_ids'),
  async run(reviewIds, { helpers }) {
    return helpers.withPgClient(async (client) => {
      const model = await activeModel(client, 'review_scorer');
      if (!model) throw new PermanentItemError('no active review_scorer: train one first (trainReviewScorer)');
      const { rows } = await client.query<ReviewFeatureRow>('select * from app_private.review_features($1::uuid[])', [reviewIds]);
      const scores = rows.length > 0 ? await scoreReviews(model.session, featurize(rows), rows.length, FEATURE_COUNT) : new Float32Array(0);
      const { rows: [written] } = await client.query<{ n: number }>(
        'select app_private.record_review_scores($1, $2::uuid[], $3::real[]) as n',
        [model.id, rows.map((row) => row.review_id), Array.from(scores)],
      );
      return { reviews_scored: written.n, reviews_gone: reviewIds.length - rows.length };
    });
  },
});

export default score_reviews;

// Kind `score_sellers`: one item is a chunk of seller ids. One query reads their subgraph of
// products and scored reviews, the seller_scorer graph model runs once, one statement writes.
import { idList, itemTask, type ChunkPayload } from '../server/worker/item_task.ts';
import { activeModel, ensureSellerScorer } from '../server/ml/models.ts';
import { scoreSellers } from '../server/ml/scoring.ts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      score_sellers: ChunkPayload;
    }
  }
}

interface SellerGraph {
  seller_ids: string[];
  product_seller: string[];
  review_product: string[];
  review_quality: number[];
  review_rating: number[];
}

export const score_sellers = itemTask<string[]>({
  parse: (payload) => idList(payload, 'seller_ids'),
  async run(sellerIds, { helpers }) {
    return helpers.withPgClient(async (client) => {
      await ensureSellerScorer(client);
      const model = (await activeModel(client, 'seller_scorer'))!;
      const { rows: [graph] } = await client.query<SellerGraph>('select * from app_private.seller_graph($1::uuid[])', [sellerIds]);
      const scored = await scoreSellers(model.session, {
        reviewQuality: Float32Array.from(graph.review_quality),
        reviewRating: Float32Array.from(graph.review_rating),
        reviewProduct: BigInt64Array.from(graph.review_product, BigInt),
        productSeller: BigInt64Array.from(graph.product_seller, BigInt),
        sellerCount: graph.seller_ids.length,
      });
      const { rows: [written] } = await client.query<{ n: number }>(
        'select app_private.record_seller_scores($1, $2::uuid[], $3::real[], $4::real[], $5::integer[], $6::integer[]) as n',
        [model.id, graph.seller_ids, Array.from(scored.score), Array.from(scored.confidence),
          Array.from(scored.productCount, Math.round), Array.from(scored.reviewCount, Math.round)],
      );
      return { sellers_scored: written.n, reviews_read: graph.review_product.length };
    });
  },
});

export default score_sellers;

// The product recommender: embeds each approved product (onnx_models.ts's embedding graph over
// product_features.ts's hashed features), finds every product's nearest neighbours within its
// tenant (the similarity-search graph, in blocks), and stores the lists as a new model version in
// one transaction (app_private.store_recommendations).
//
// A retrain is incremental when that gives the full rebuild's answer: it recomputes the lists of
// changed products, of products whose list holds a changed or removed one, and of products that
// a changed one would now enter (it beats their k-th score); every other list provably stays the
// same. A new embedding specification, a first build or a large change rebuilds everything.
import * as ort from 'onnxruntime-node';
import type pg from 'pg';
import { createRandom } from '../random.ts';
import { productEmbeddingModel, similaritySearchModel } from './onnx_models.ts';
import { PRODUCT_FEATURE_BUCKETS, productFeatures, type ProductText } from './product_features.ts';
import { loadSession } from './scoring.ts';

export const EMBEDDING_DIMENSIONS = 64;
/** Recommendations stored per product. */
export const NEIGHBOURS = 10;
const PROJECTION_SEED = 20_261_123;
/** Names everything that decides an embedding; a version with another spec triggers a full rebuild. */
export const RECOMMENDER_SPEC = `hashed-bag-v1/${PRODUCT_FEATURE_BUCKETS}x${EMBEDDING_DIMENSIONS}/seed-${PROJECTION_SEED}/k-${NEIGHBOURS}`;
/** Above this share of changed products in a tenant, a full rebuild is as cheap as the bookkeeping. */
const FULL_REBUILD_SHARE = 0.25;
const EMBED_BLOCK = 1024;
const SEARCH_BLOCK = 256;
/** Float error between two ways of computing one dot product. */
const SCORE_TOLERANCE = 1e-5;

type Queryable = Pick<pg.ClientBase, 'query'>;

interface Models {
  embeddingBytes: Uint8Array;
  embedding: ort.InferenceSession;
  search: ort.InferenceSession;
}

let models: Promise<Models> | undefined;

/** A fixed Gaussian random projection (Johnson–Lindenstrauss): same seed, same embeddings. */
function projection(): Float32Array {
  const random = createRandom(PROJECTION_SEED);
  const values = new Float32Array(PRODUCT_FEATURE_BUCKETS * EMBEDDING_DIMENSIONS);
  const scale = 1 / Math.sqrt(EMBEDDING_DIMENSIONS);
  for (let i = 0; i < values.length; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random())) * scale;
    const angle = 2 * Math.PI * random();
    values[i] = radius * Math.cos(angle);
    values[i + 1] = radius * Math.sin(angle);
  }
  return values;
}

export function recommenderModels(): Promise<Models> {
  models ??= (async () => {
    const embeddingBytes = productEmbeddingModel({ projection: projection(), buckets: PRODUCT_FEATURE_BUCKETS, dimensions: EMBEDDING_DIMENSIONS });
    const [embedding, search] = await Promise.all([loadSession(embeddingBytes), loadSession(similaritySearchModel(EMBEDDING_DIMENSIONS))]);
    return { embeddingBytes, embedding, search };
  })();
  models.catch(() => (models = undefined));
  return models;
}

/** Unit-length embeddings of the products, row-major [n, EMBEDDING_DIMENSIONS]. */
export async function embedProducts(session: ort.InferenceSession, products: ProductText[]): Promise<Float32Array> {
  const out = new Float32Array(products.length * EMBEDDING_DIMENSIONS);
  for (let start = 0; start < products.length; start += EMBED_BLOCK) {
    const block = products.slice(start, start + EMBED_BLOCK).map(productFeatures);
    const width = Math.max(1, ...block.map((features) => features.buckets.length));
    const ids = new Int32Array(block.length * width);
    const weights = new Float32Array(block.length * width);
    block.forEach((features, row) => {
      ids.set(features.buckets, row * width);
      weights.set(features.weights, row * width);
    });
    const { embedding } = await session.run({
      feature_ids: new ort.Tensor('int32', ids, [block.length, width]),
      feature_weights: new ort.Tensor('float32', weights, [block.length, width]),
    });
    out.set(embedding.data as Float32Array, start * EMBEDDING_DIMENSIONS);
  }
  return out;
}

/** The corpus as the search graph takes it: [D, n], one column per embedding (of these rows). */
export function corpusTensor(embeddings: Float32Array, rows: number[]): ort.Tensor {
  const n = rows.length;
  const out = new Float32Array(EMBEDDING_DIMENSIONS * n);
  rows.forEach((row, column) => {
    for (let d = 0; d < EMBEDDING_DIMENSIONS; d++) out[d * n + column] = embeddings[row * EMBEDDING_DIMENSIONS + d];
  });
  return new ort.Tensor('float32', out, [EMBEDDING_DIMENSIONS, n]);
}

export interface Neighbours {
  /** [queries.length, k] */
  scores: Float32Array;
  /** [queries.length, k], positions in the corpus */
  indices: Int32Array;
  k: number;
}

/** The k best corpus columns for each query row (rows of `embeddings`), best first. */
export async function nearestNeighbours(session: ort.InferenceSession, embeddings: Float32Array, queries: number[], corpus: ort.Tensor, k: number): Promise<Neighbours> {
  const scores = new Float32Array(queries.length * k);
  const indices = new Int32Array(queries.length * k);
  if (k === 0) return { scores, indices, k };
  const kTensor = new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]);
  for (let start = 0; start < queries.length; start += SEARCH_BLOCK) {
    const block = queries.slice(start, start + SEARCH_BLOCK);
    const input = new Float32Array(block.length * EMBEDDING_DIMENSIONS);
    block.forEach((row, i) => input.set(embeddings.subarray(row * EMBEDDING_DIMENSIONS, (row + 1) * EMBEDDING_DIMENSIONS), i * EMBEDDING_DIMENSIONS));
    const result = await session.run({ queries: new ort.Tensor('float32', input, [block.length, EMBEDDING_DIMENSIONS]), corpus_t: corpus, k: kTensor });
    scores.set(result.scores.data as Float32Array, start * k);
    const found = result.indices.data as BigInt64Array;
    for (let i = 0; i < found.length; i++) indices[start * k + i] = Number(found[i]);
  }
  return { scores, indices, k };
}

interface ProductRow {
  id: string;
  content_key: string;
  stored_content_key: string | null;
  kth_score: number | null;
}

/**
 * Embeddings of products, row-major [n, D], remembering those computed (by product, with the
 * content key they were computed from) so that a retrain reads the text of new and changed
 * products only. A restarted worker starts empty and reads everything once; a full cache (over
 * `limit` products) is emptied and refilled.
 */
export function cachedEmbeddings(limit: number) {
  const cache = new Map<string, { contentKey: string; vector: Float32Array }>();
  return async (db: Queryable, session: ort.InferenceSession, products: Pick<ProductRow, 'id' | 'content_key'>[]): Promise<Float32Array> => {
    const out = new Float32Array(products.length * EMBEDDING_DIMENSIONS);
    const missing = new Map<string, number>();
    products.forEach((product, i) => {
      const cached = cache.get(product.id);
      if (cached?.contentKey === product.content_key) out.set(cached.vector, i * EMBEDDING_DIMENSIONS);
      else missing.set(product.id, i);
    });
    if (missing.size === 0) return out;
    const { rows } = await db.query<ProductText & { id: string; content_key: string }>('select * from app_private.recommender_product_texts($1)', [[...missing.keys()]]);
    const vectors = await embedProducts(session, rows);
    // Emptied only now that `out` holds the cached vectors it needs.
    if (cache.size + rows.length > limit) cache.clear();
    rows.forEach((row, r) => {
      const vector = vectors.slice(r * EMBEDDING_DIMENSIONS, (r + 1) * EMBEDDING_DIMENSIONS);
      cache.set(row.id, { contentKey: row.content_key, vector });
      // Changed again between the two reads: the next retrain (its transaction enqueued one) catches up.
      out.set(vector, missing.get(row.id)! * EMBEDDING_DIMENSIONS);
    });
    return out;
  };
}

/** About 300 bytes a product: this bounds the cache near 300 MB. */
const embeddingsOf = cachedEmbeddings(1_000_000);

/** What one retrain writes, gathered over tenants. */
class Update {
  productIds: string[] = [];
  tenantIds: string[] = [];
  contentKeys: string[] = [];
  kthScores: (number | null)[] = [];
  removed: string[] = [];
  listProductIds: string[] = [];
  recommendedIds: string[] = [];
  scores: number[] = [];
}

interface TenantOutcome {
  products: number;
  changed: number;
  removed: number;
  recomputed: number;
  full: boolean;
}

async function retrainTenant(db: Queryable, { embedding, search }: Models, tenantId: string, rebuild: boolean, update: Update): Promise<TenantOutcome> {
  const { rows: products } = await db.query<ProductRow>('select * from app_private.recommender_products($1)', [tenantId]);
  const { rows: removedRows } = await db.query<{ id: string }>('select id from app_private.recommender_removed_products($1) id', [tenantId]);
  const removed = removedRows.map((row) => row.id);
  update.removed.push(...removed);
  const n = products.length;
  const changed: number[] = [];
  products.forEach((product, i) => {
    if (rebuild || product.content_key !== product.stored_content_key) changed.push(i);
  });
  const full = rebuild || changed.length > FULL_REBUILD_SHARE * n;
  const embeddings = await embeddingsOf(db, embedding, products);
  const all = products.map((_, i) => i);

  let recompute: number[];
  if (full) {
    recompute = all;
  } else {
    const position = new Map(products.map((product, i) => [product.id, i]));
    const marked = new Uint8Array(n);
    for (const i of changed) marked[i] = 1;
    // Lists that hold a changed or removed product: their k-th place is no longer known.
    const gone = [...changed.map((i) => products[i].id), ...removed];
    if (gone.length > 0) {
      const { rows } = await db.query<{ id: string }>('select id from app_private.recommender_lists_containing($1) id', [gone]);
      for (const { id } of rows) {
        const i = position.get(id);
        if (i !== undefined) marked[i] = 1;
      }
    }
    // Lists that a changed product now enters: it beats their k-th score (or they are short).
    if (changed.length > 0) {
      const unmarked = all.filter((i) => !marked[i]);
      const best = await nearestNeighbours(search, embeddings, unmarked, corpusTensor(embeddings, changed), 1);
      unmarked.forEach((i, row) => {
        const kth = products[i].kth_score;
        if (kth === null || best.scores[row] >= kth - SCORE_TOLERANCE) marked[i] = 1;
      });
    }
    recompute = all.filter((i) => marked[i]);
  }

  if (recompute.length > 0) {
    const k = Math.min(NEIGHBOURS + 1, n);
    const found = await nearestNeighbours(search, embeddings, recompute, corpusTensor(embeddings, all), k);
    recompute.forEach((i, row) => {
      const product = products[i];
      let kept = 0;
      let last = 0;
      for (let j = 0; j < k && kept < NEIGHBOURS; j++) {
        const other = found.indices[row * k + j];
        if (other === i) continue;
        last = found.scores[row * k + j];
        update.listProductIds.push(product.id);
        update.recommendedIds.push(products[other].id);
        update.scores.push(last);
        kept++;
      }
      update.productIds.push(product.id);
      update.tenantIds.push(tenantId);
      update.contentKeys.push(product.content_key);
      update.kthScores.push(kept === NEIGHBOURS ? last : null);
    });
  }
  return { products: n, changed: changed.length, removed: removed.length, recomputed: recompute.length, full };
}

export interface RetrainOutcome {
  /** The new active version, or null when nothing had changed. */
  versionId: string | null;
  metrics: Record<string, unknown>;
}

/**
 * Brings the recommendations up to date with the products and makes the result the active
 * recommender version. Changes committed while it runs are left for the next retrain (their
 * transactions enqueued it).
 */
export async function retrainRecommender(db: Queryable): Promise<RetrainOutcome> {
  const started = performance.now();
  // The ids it reads are the changes it consumes: a change committed later, even one with a
  // lower id (drawn early by a long transaction), stays for the retrain its commit queued.
  const { rows: [changes] } = await db.query<{ seen: string[]; tenant_ids: string[] }>(
    `select coalesce(array_agg(id), '{}') as seen, coalesce(array_agg(distinct tenant_id), '{}') as tenant_ids from app_private.recommender_changes`,
  );
  const seen = changes.seen;
  const { rows: [active] } = await db.query<{ metrics: Record<string, unknown> }>(
    "select metrics from app_public.model_versions where kind = 'recommender' and is_active",
  );
  const rebuild = active?.metrics.spec !== RECOMMENDER_SPEC;
  const tenants = rebuild
    ? (await db.query<{ id: string }>('select id from app_public.tenants order by id')).rows
    : changes.tenant_ids.map((id) => ({ id }));
  if (tenants.length === 0) {
    await db.query('select app_private.consume_recommender_changes($1)', [seen]);
    return { versionId: null, metrics: { changed: 0, seconds: (performance.now() - started) / 1000 } };
  }
  const loaded = await recommenderModels();
  const update = new Update();
  const totals = { tenants: tenants.length, products: 0, changed: 0, removed: 0, recomputed: 0, full_rebuilds: 0 };
  for (const { id } of tenants) {
    const outcome = await retrainTenant(db, loaded, id, rebuild, update);
    totals.products += outcome.products;
    totals.changed += outcome.changed;
    totals.removed += outcome.removed;
    totals.recomputed += outcome.recomputed;
    if (outcome.full) totals.full_rebuilds++;
  }
  if (!rebuild && totals.changed + totals.removed === 0) {
    // E.g. a product rejected and approved again unchanged: the lists stand.
    await db.query('select app_private.consume_recommender_changes($1)', [seen]);
    return { versionId: null, metrics: { ...totals, seconds: (performance.now() - started) / 1000 } };
  }
  const metrics = {
    spec: RECOMMENDER_SPEC,
    mode: totals.full_rebuilds === tenants.length ? 'full' : totals.full_rebuilds === 0 ? 'incremental' : 'mixed',
    ...totals,
    neighbours: NEIGHBOURS,
    dimensions: EMBEDDING_DIMENSIONS,
    seconds: Math.round((performance.now() - started) / 10) / 100,
  };
  const { rows: [version] } = await db.query<{ id: string }>(
    'select id from app_private.store_recommendations($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)',
    [
      rebuild ? Buffer.from(loaded.embeddingBytes) : null, totals.products, metrics, seen, update.removed,
      update.productIds, update.tenantIds, update.contentKeys, update.kthScores,
      update.listProductIds, update.recommendedIds, update.scores,
    ],
  );
  return { versionId: version.id, metrics };
}

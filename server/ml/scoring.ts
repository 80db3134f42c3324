// onnxruntime-node wrappers for the scoring models, and the training of a review scorer: features,
// a stratified holdout, logistic regression, the ONNX model, and metrics measured by running that
// very ONNX model in onnxruntime-node on the held-out rows.
import * as ort from 'onnxruntime-node';
import { auc, logLoss, splitHoldout, trainLogisticRegressionSparse, type TrainOptions } from './logistic_regression.ts';
import { reviewScorerModel } from './onnx_models.ts';
import { FEATURE_COUNT, FEATURE_VERSION, densify, featurizeSparse, type ReviewFeatureRow } from './review_features.ts';

/** An ONNX model's bytes as an onnxruntime-node session on the CPU. */
export function loadSession(bytes: Uint8Array, options: ort.InferenceSession.SessionOptions = {}): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], ...options });
}

function float32(data: ort.Tensor['data'], name: string): Float32Array {
  if (!(data instanceof Float32Array)) throw new Error(`model output ${name} is not float32`);
  return data;
}

/**
 * Runs the review scorer on n rows of d features (row-major, as `featurize` makes them).
 * Returns one probability of being FAKE per row, in [0, 1].
 */
export async function scoreReviews(session: ort.InferenceSession, features: Float32Array, n: number, d: number): Promise<Float32Array> {
  if (features.length !== n * d) throw new Error(`scoreReviews: expected ${n}×${d} = ${n * d} features, got ${features.length}`);
  if (n === 0) return new Float32Array(0);
  const results = await session.run({ features: new ort.Tensor('float32', features, [n, d]) });
  return float32(results.score.data, 'score');
}

export interface SellerGraphInput {
  /** Per review: trust in it, 1 - P(fake), in 0..1. */
  reviewQuality: Float32Array;
  /** Per review: rating normalized to 0..1, (stars - 1) / 4. */
  reviewRating: Float32Array;
  /** Per review: its product's index in 0..P-1. */
  reviewProduct: BigInt64Array;
  /** Per product: its seller's index in 0..sellerCount-1 (P = its length). */
  productSeller: BigInt64Array;
  sellerCount: number;
}

export interface SellerScores {
  score: Float32Array;
  confidence: Float32Array;
  productCount: Float32Array;
  reviewCount: Float32Array;
}

/** Runs the seller scorer over a seller–product–review graph; one value of each output per seller. */
export async function scoreSellers(session: ort.InferenceSession, input: SellerGraphInput): Promise<SellerScores> {
  const { reviewQuality, reviewRating, reviewProduct, productSeller, sellerCount } = input;
  const r = reviewQuality.length;
  const p = productSeller.length;
  if (!Number.isInteger(sellerCount) || sellerCount < 0) throw new Error(`scoreSellers: bad sellerCount ${sellerCount}`);
  if (reviewRating.length !== r || reviewProduct.length !== r) {
    throw new Error(`scoreSellers: review arrays differ in length (${r} qualities, ${reviewRating.length} ratings, ${reviewProduct.length} products)`);
  }
  const products = BigInt(p);
  for (let i = 0; i < r; i++) {
    if (reviewProduct[i] < 0n || reviewProduct[i] >= products) throw new Error(`scoreSellers: review ${i} names product ${reviewProduct[i]} of ${p}`);
  }
  const sellers = BigInt(sellerCount);
  for (let i = 0; i < p; i++) {
    if (productSeller[i] < 0n || productSeller[i] >= sellers) throw new Error(`scoreSellers: product ${i} names seller ${productSeller[i]} of ${sellerCount}`);
  }
  const results = await session.run({
    review_quality: new ort.Tensor('float32', reviewQuality, [r]),
    review_rating: new ort.Tensor('float32', reviewRating, [r]),
    review_product: new ort.Tensor('int64', reviewProduct, [r]),
    product_seller: new ort.Tensor('int64', productSeller, [p]),
    seller_slots: new ort.Tensor('float32', new Float32Array(sellerCount), [sellerCount]),
  });
  return {
    score: float32(results.score.data, 'score'),
    confidence: float32(results.confidence.data, 'confidence'),
    productCount: float32(results.product_count.data, 'product_count'),
    reviewCount: float32(results.review_count.data, 'review_count'),
  };
}

export interface ReviewScorerMetrics {
  /** Held-out AUC of the ONNX model (NaN when the holdout lacks a class). */
  auc: number;
  /** Held-out mean log loss of the ONNX model. */
  log_loss: number;
  /** Held-out log loss of always predicting the training share of fakes: log_loss should be lower. */
  baseline_log_loss: number;
  training_rows: number;
  holdout_rows: number;
  /** Share of fakes among the labelled rows. */
  fake_share: number;
  feature_count: number;
  feature_version: string;
}

export interface TrainReviewScorerOptions {
  /** Share of the rows held out for the metrics (default 0.2), stratified by label. */
  holdoutFraction?: number;
  /** Logistic regression options; its seed defaults to the seed given. */
  train?: TrainOptions;
  /** Rows scored per onnxruntime run when evaluating (default 2048; bounds memory). */
  evaluationChunk?: number;
}

/**
 * Trains a review scorer on labelled rows (label 1 = fake, 0 = genuine), deterministically for a
 * seed. Returns the ONNX model's bytes (see onnx_models.ts's reviewScorerModel) and its metrics on
 * held-out rows, measured with that model in onnxruntime-node.
 */
export async function trainReviewScorer(
  rows: ReviewFeatureRow[],
  labels: ArrayLike<number>,
  seed = 1,
  options: TrainReviewScorerOptions = {},
): Promise<{ model: Uint8Array; metrics: ReviewScorerMetrics }> {
  const { holdoutFraction = 0.2, train = {}, evaluationChunk = 2048 } = options;
  if (rows.length !== labels.length) throw new Error(`trainReviewScorer: ${rows.length} rows but ${labels.length} labels`);
  const y = new Float32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const label = Number(labels[i]);
    if (label !== 0 && label !== 1) throw new Error(`trainReviewScorer: label ${labels[i]} of row ${i} is not 0 or 1`);
    y[i] = label;
  }
  const matrix = featurizeSparse(rows);
  const split = splitHoldout(rows.length, holdoutFraction, seed, y);
  const fitted = trainLogisticRegressionSparse(matrix, y, { seed, ...train }, split.train);
  const model = reviewScorerModel({ weights: fitted.weights, bias: fitted.bias, featureCount: FEATURE_COUNT });

  const testLabels = new Float32Array(split.test.length);
  const testScores = new Float32Array(split.test.length);
  for (let i = 0; i < split.test.length; i++) testLabels[i] = y[split.test[i]];
  if (split.test.length > 0) {
    const session = await loadSession(model);
    const buffer = new Float32Array(Math.min(evaluationChunk, split.test.length) * FEATURE_COUNT);
    try {
      for (let start = 0; start < split.test.length; start += evaluationChunk) {
        const part = split.test.subarray(start, start + evaluationChunk);
        testScores.set(await scoreReviews(session, densify(matrix, part, buffer), part.length, FEATURE_COUNT), start);
      }
    } finally {
      await session.release();
    }
  }
  let trainFakes = 0;
  for (const i of split.train) trainFakes += y[i];
  const prior = split.train.length > 0 ? trainFakes / split.train.length : 0.5;
  let fakes = 0;
  for (let i = 0; i < y.length; i++) fakes += y[i];
  return {
    model,
    metrics: {
      auc: auc(testScores, testLabels),
      log_loss: logLoss(testScores, testLabels),
      baseline_log_loss: logLoss(new Float32Array(testLabels.length).fill(prior), testLabels),
      training_rows: split.train.length,
      holdout_rows: split.test.length,
      fake_share: y.length > 0 ? fakes / y.length : 0,
      feature_count: FEATURE_COUNT,
      feature_version: FEATURE_VERSION,
    },
  };
}

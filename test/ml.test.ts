// The in-process ML without a database: review features, logistic regression, the ONNX models
// in onnxruntime-node, review scorer training on synthetic labelled reviews, and the seller
// scorer's graph arithmetic (including every empty case).
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { auc, logLoss, predictSparse, seededRandom, splitHoldout, trainLogisticRegression, trainLogisticRegressionSparse } from '../server/ml/logistic_regression.ts';
import { reviewScorerModel, sellerScorerModel } from '../server/ml/onnx_models.ts';
import { FEATURE_COUNT, META_COUNT, TEXT_BUCKETS, densify, featurize, featurizeSparse, type ReviewFeatureRow } from '../server/ml/review_features.ts';
import { loadSession, scoreReviews, scoreSellers, trainReviewScorer, type SellerGraphInput } from '../server/ml/scoring.ts';

// ---------------------------------------------------------------------------------------------
// Synthetic marketplace reviews with a hidden process. Fake reviews tend to be short, extreme,
// hyped, duplicated, unverified, bursty and by one-review authors; genuine ones longer, varied,
// moderate and verified more often. Every tendency is a probability, and 4% of labels are
// flipped, so the classes overlap.

const GENERIC = 'the a it is was and but for with this that very really quite after before day week month use used using works worked size color box arrived shipping price value quality would again my our'.split(' ');
const PRODUCT = Array.from({ length: 300 }, (_, i) => `w${i.toString(36)}${'aeiou'[i % 5]}`);
const HYPE = 'amazing best perfect love awesome excellent must buy highly recommend five stars incredible wow fantastic greatest everyone'.split(' ');
const HATE = 'terrible scam worst awful garbage avoid waste fake broke refund never'.split(' ');

interface Synthetic {
  rows: ReviewFeatureRow[];
  labels: number[];
}

function syntheticReviews(count: number, seed: number): Synthetic {
  const random = seededRandom(seed);
  const pick = <T,>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const productCount = Math.max(10, Math.floor(count / 20));
  const campaignProducts = Math.max(2, Math.floor(productCount / 10));
  const templates = Array.from({ length: 25 }, () =>
    Array.from({ length: 4 + Math.floor(random() * 8) }, () => (random() < 0.6 ? pick(HYPE) : pick(GENERIC))).join(' '),
  );
  interface Draft { fake: boolean; product: number; author: string; day: number; rating: number; title: string; body: string; verified: boolean }
  const drafts: Draft[] = [];
  for (let i = 0; i < count; i++) {
    const fake = random() < 0.3;
    const product = fake && random() < 0.6 ? Math.floor(random() * campaignProducts) : Math.floor(random() * productCount);
    const day = fake && random() < 0.6 ? 1000 + product : Math.floor(random() * 365);
    const author = fake
      ? random() < 0.7 ? `throwaway-${i}` : `user-${Math.floor(random() * 400)}`
      : random() < 0.6 ? `user-${Math.floor(random() * 400)}` : `once-${i}`;
    let rating: number;
    if (fake) rating = random() < 0.75 ? (random() < 0.8 ? 5 : 1) : 1 + Math.floor(random() * 5);
    else rating = Math.min(5, Math.max(1, Math.round(3.6 + (random() + random() + random() - 1.5) * 2)));
    const words: string[] = [];
    const length = fake ? (random() < 0.7 ? 3 + Math.floor(random() * 20) : 15 + Math.floor(random() * 60)) : (random() < 0.25 ? 5 + Math.floor(random() * 15) : 15 + Math.floor(random() * 100));
    const hype = fake ? (rating <= 2 ? HATE : HYPE) : random() < 0.5 ? HYPE : HATE;
    const hypeRate = fake ? 0.35 : 0.08;
    for (let k = 0; k < length; k++) {
      const u = random();
      words.push(u < hypeRate ? pick(hype) : u < hypeRate + 0.45 ? pick(GENERIC) : pick(PRODUCT));
    }
    let body = words.join(' ');
    if (fake && random() < 0.3) body = pick(templates);
    if (fake && random() < 0.3) body = body.toUpperCase() + '!!!';
    else if (random() < 0.1) body += '!';
    const title = Array.from({ length: 1 + Math.floor(random() * 4) }, () => (random() < (fake ? 0.5 : 0.15) ? pick(hype) : pick(GENERIC))).join(' ');
    const verified = random() < (fake ? 0.25 : 0.75);
    drafts.push({ fake, product, author, day, rating, title, body, verified });
  }
  // What the SQL query would compute about each review.
  const bodies = new Map<string, number>();
  const authors = new Map<string, number>();
  const products = new Map<number, { sum: number; n: number }>();
  const productDays = new Map<string, number>();
  for (const d of drafts) {
    const key = d.body.trim().toLowerCase();
    if (key) bodies.set(key, (bodies.get(key) ?? 0) + 1);
    authors.set(d.author, (authors.get(d.author) ?? 0) + 1);
    const p = products.get(d.product) ?? { sum: 0, n: 0 };
    p.sum += d.rating;
    p.n++;
    products.set(d.product, p);
    productDays.set(`${d.product}/${d.day}`, (productDays.get(`${d.product}/${d.day}`) ?? 0) + 1);
  }
  const rows = drafts.map((d, i): ReviewFeatureRow => {
    const p = products.get(d.product)!;
    const key = d.body.trim().toLowerCase();
    return {
      review_id: `r${i}`,
      title: d.title,
      body: d.body,
      rating: d.rating,
      verified_purchase: d.verified,
      duplicate_count: key ? bodies.get(key)! - 1 : 0,
      author_review_count: authors.get(d.author)!,
      product_mean_rating: p.sum / p.n,
      product_review_count: p.n,
      same_day_product_reviews: productDays.get(`${d.product}/${d.day}`)!,
    };
  });
  const labels = drafts.map((d) => (random() < 0.04 ? 1 - Number(d.fake) : Number(d.fake)));
  return { rows, labels };
}

function row(overrides: Partial<ReviewFeatureRow>): ReviewFeatureRow {
  return {
    review_id: 'x',
    title: 'Solid pan',
    body: 'Heats evenly and cleans up well after a week of daily use.',
    rating: 4,
    verified_purchase: true,
    duplicate_count: 0,
    author_review_count: 3,
    product_mean_rating: 4.2,
    product_review_count: 12,
    same_day_product_reviews: 1,
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------

describe('review features', () => {
  it('are deterministic, n × FEATURE_COUNT, with an L2-normalized text part and finite metadata', () => {
    const rows = [row({}), row({ title: '', body: '' }), row({ body: 'GREAT!!! great great', rating: 5, duplicate_count: 7 })];
    const a = featurize(rows);
    const b = featurize(rows.map((r) => ({ ...r })));
    expect(FEATURE_COUNT).toBe(TEXT_BUCKETS + META_COUNT);
    expect(a.length).toBe(3 * FEATURE_COUNT);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    const textNorm = (i: number) => Math.hypot(...a.subarray(i * FEATURE_COUNT, i * FEATURE_COUNT + TEXT_BUCKETS));
    expect(textNorm(0)).toBeCloseTo(1, 5);
    expect(textNorm(1)).toBe(0);
    expect(textNorm(2)).toBeCloseTo(1, 5);
    expect(a.every(Number.isFinite)).toBe(true);
    // Case and punctuation do not change the words.
    const x = featurize([row({ title: '', body: 'Great pan, really.' }), row({ title: '', body: 'great PAN really' })]);
    expect(x.subarray(0, TEXT_BUCKETS)).toEqual(x.subarray(FEATURE_COUNT, FEATURE_COUNT + TEXT_BUCKETS));
    // Word order matters through the pairs.
    const y = featurize([row({ title: '', body: 'good not bad' }), row({ title: '', body: 'bad not good' })]);
    expect(y.subarray(0, TEXT_BUCKETS)).not.toEqual(y.subarray(FEATURE_COUNT, FEATURE_COUNT + TEXT_BUCKETS));
  });

  it('survive odd input (nulls from SQL, non-Latin text, out-of-range numbers)', () => {
    const odd = [
      row({ title: null as unknown as string, body: 'Отличная сковорода — 素晴らしい!', product_mean_rating: null as unknown as number }),
      row({ rating: 9, duplicate_count: -1, author_review_count: 0, product_review_count: 0, same_day_product_reviews: Number.NaN }),
    ];
    const f = featurize(odd);
    expect(f.every(Number.isFinite)).toBe(true);
  });

  it('sparse and dense forms agree', () => {
    const { rows } = syntheticReviews(50, 3);
    const sparse = featurizeSparse(rows);
    expect(densify(sparse)).toEqual(featurize(rows));
    expect(densify(sparse, [4, 2])).toEqual(featurize([rows[4], rows[2]]));
  });
});

describe('metrics and splits', () => {
  it('auc counts ties as half and is NaN with one class', () => {
    expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 10);
    expect(auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBeCloseTo(0.5, 10);
    expect(auc([0.9, 0.1], [0, 1])).toBe(0);
    expect(auc([0.1, 0.2], [1, 1])).toBeNaN();
  });

  it('logLoss is the mean cross-entropy, clipped', () => {
    expect(logLoss([0.5, 0.5], [0, 1])).toBeCloseTo(Math.log(2), 10);
    expect(logLoss([0.9, 0.2], [1, 0])).toBeCloseTo(-(Math.log(0.9) + Math.log(0.8)) / 2, 10);
    expect(Number.isFinite(logLoss([0, 1], [1, 0]))).toBe(true);
  });

  it('splitHoldout is a deterministic, stratified partition', () => {
    const labels = Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? 1 : 0));
    const a = splitHoldout(1000, 0.2, 7, labels);
    expect(splitHoldout(1000, 0.2, 7, labels)).toEqual(a);
    expect(splitHoldout(1000, 0.2, 8, labels).test).not.toEqual(a.test);
    expect(a.test.length).toBe(200);
    expect(new Set([...a.train, ...a.test]).size).toBe(1000);
    expect([...a.test].filter((i) => labels[i] === 1).length).toBe(20);
    // Tiny classes still get a held-out row.
    const tiny = splitHoldout(20, 0.2, 1, [1, 1, ...Array(18).fill(0)]);
    expect([...tiny.test].filter((i) => i < 2).length).toBe(1);
    expect(splitHoldout(0, 0.2, 1)).toEqual({ train: new Int32Array(0), test: new Int32Array(0) });
  });

  it('logistic regression fits a separable problem, deterministically', () => {
    const n = 400;
    const d = 3;
    const random = seededRandom(5);
    const x = new Float32Array(n * d);
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      x[i * d] = random() * 2 - 1;
      x[i * d + 1] = random() * 2 - 1;
      x[i * d + 2] = random(); // noise
      y[i] = x[i * d] + 0.5 * x[i * d + 1] > 0.1 ? 1 : 0;
    }
    const model = trainLogisticRegression(x, y, n, d, { seed: 3 });
    expect(model.weights[0]).toBeGreaterThan(2 * Math.abs(model.weights[2]));
    expect(model.weights[1]).toBeGreaterThan(0);
    const again = trainLogisticRegression(x, y, n, d, { seed: 3 });
    expect(again.weights).toEqual(model.weights);
    expect(again.bias).toBe(model.bias);
    const scores = Array.from({ length: n }, (_, i) => 1 / (1 + Math.exp(-(model.bias + model.weights[0] * x[i * d] + model.weights[1] * x[i * d + 1] + model.weights[2] * x[i * d + 2]))));
    expect(auc(scores, y)).toBeGreaterThan(0.98);
  });
});

describe('review scorer', () => {
  const data = syntheticReviews(6000, 42);

  it('trains to a held-out AUC well above chance, measured on the ONNX model', async () => {
    const { model, metrics } = await trainReviewScorer(data.rows, data.labels, 1);
    expect(metrics.training_rows + metrics.holdout_rows).toBe(6000);
    expect(metrics.holdout_rows).toBe(1200);
    expect(metrics.auc).toBeGreaterThan(0.8);
    expect(metrics.log_loss).toBeLessThan(metrics.baseline_log_loss);
    expect(metrics.feature_count).toBe(FEATURE_COUNT);

    const session = await loadSession(model);
    expect(session.inputNames).toEqual(['features']);
    expect(session.outputNames).toEqual(['score']);
    const fresh = syntheticReviews(1000, 99);
    const scores = await scoreReviews(session, featurize(fresh.rows), fresh.rows.length, FEATURE_COUNT);
    expect(scores.length).toBe(1000);
    expect(scores.every((s) => s >= 0 && s <= 1)).toBe(true);
    expect(auc(scores, fresh.labels)).toBeGreaterThan(0.8);
    // Fakes score higher on average: the score is P(fake).
    const mean = (want: number) => {
      const picked = [...scores].filter((_, i) => fresh.labels[i] === want);
      return picked.reduce((a, b) => a + b, 0) / picked.length;
    };
    expect(mean(1)).toBeGreaterThan(mean(0) + 0.2);
    // No rows: no scores, no error (in the wrapper and in the model itself).
    expect(await scoreReviews(session, new Float32Array(0), 0, FEATURE_COUNT)).toEqual(new Float32Array(0));
    const empty = await session.run({ features: new ort.Tensor('float32', new Float32Array(0), [0, FEATURE_COUNT]) });
    expect(empty.score.dims).toEqual([0]);
    await expect(scoreReviews(session, new Float32Array(5), 1, 5)).rejects.toThrow();
    await session.release();
  });

  it('learns nothing from shuffled labels (so the AUC test can fail)', async () => {
    const random = seededRandom(11);
    const shuffled = [...data.labels];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    const { metrics } = await trainReviewScorer(data.rows, shuffled, 1);
    expect(Math.abs(metrics.auc - 0.5)).toBeLessThan(0.08);
  });

  it('is deterministic for a seed, and the ONNX model matches the JavaScript one', async () => {
    const small = syntheticReviews(800, 5);
    const a = await trainReviewScorer(small.rows, small.labels, 3);
    const b = await trainReviewScorer(small.rows, small.labels, 3);
    expect(Buffer.from(a.model).equals(Buffer.from(b.model))).toBe(true);
    expect(a.metrics).toEqual(b.metrics);

    const matrix = featurizeSparse(small.rows);
    const fitted = trainLogisticRegressionSparse(matrix, small.labels, { seed: 3 });
    const session = await loadSession(reviewScorerModel({ ...fitted, featureCount: FEATURE_COUNT }));
    const onnxScores = await scoreReviews(session, densify(matrix), matrix.n, FEATURE_COUNT);
    const jsScores = predictSparse(fitted, matrix);
    let worst = 0;
    for (let i = 0; i < matrix.n; i++) worst = Math.max(worst, Math.abs(onnxScores[i] - jsScores[i]));
    expect(worst).toBeLessThan(1e-5);
    await session.release();
  });

  it('trains on tiny data without failing', async () => {
    const tiny = syntheticReviews(20, 8);
    tiny.labels[0] = 1;
    tiny.labels[1] = 0;
    const { model, metrics } = await trainReviewScorer(tiny.rows, tiny.labels, 1);
    expect(model.length).toBeGreaterThan(FEATURE_COUNT * 4);
    expect(metrics.holdout_rows).toBeGreaterThan(0);
    expect(metrics.training_rows + metrics.holdout_rows).toBe(20);
  });
});

describe('seller scorer', () => {
  const prior = { priorScore: 0.6, priorStrength: 2 };
  const graph = (g: { q: number[]; r: number[]; rp: number[]; ps: number[]; s: number }): SellerGraphInput => ({
    reviewQuality: Float32Array.from(g.q),
    reviewRating: Float32Array.from(g.r),
    reviewProduct: BigInt64Array.from(g.rp, BigInt),
    productSeller: BigInt64Array.from(g.ps, BigInt),
    sellerCount: g.s,
  });
  const plain = (scores: Awaited<ReturnType<typeof scoreSellers>>) => ({
    score: Array.from(scores.score),
    confidence: Array.from(scores.confidence),
    productCount: Array.from(scores.productCount),
    reviewCount: Array.from(scores.reviewCount),
  });
  const close = (actual: number[], expected: number[]) => {
    expect(actual.length).toBe(expected.length);
    actual.forEach((a, i) => expect(a).toBeCloseTo(expected[i], 5));
  };

  it('computes trust-weighted, smoothed scores on a hand-computed graph', async () => {
    const session = await loadSession(sellerScorerModel(prior));
    expect(session.outputNames).toEqual(['score', 'confidence', 'product_count', 'review_count']);
    // Seller 0: products 0 (two reviews) and 2 (none). Seller 1: product 1 (one review, distrusted
    // half), product 3 (one review). Seller 2: no products.
    const out = plain(await scoreSellers(session, graph({
      q: [1, 0.5, 0.5, 0, 1],
      r: [1, 0, 0.25, 1, 0.5],
      rp: [0, 0, 1, 3, 3],
      ps: [0, 1, 0, 1],
      s: 3,
    })));
    // Seller 0: Σq = 1.5, Σq·r = 1        → (1 + 1.2) / 3.5,   confidence 1.5 / 3.5.
    // Seller 1: Σq = 1.5, Σq·r = 0.125+0.5 → (0.625 + 1.2) / 3.5, confidence 1.5 / 3.5.
    close(out.score, [2.2 / 3.5, 1.825 / 3.5, 0.6]);
    close(out.confidence, [1.5 / 3.5, 1.5 / 3.5, 0]);
    expect(out.productCount).toEqual([2, 2, 0]);
    expect(out.reviewCount).toEqual([2, 3, 0]);
    await session.release();
  });

  it('gives the prior and zeros to empty marketplaces and empty sellers, without errors', async () => {
    const session = await loadSession(sellerScorerModel(prior));
    // R = 0, P = 0, S = 0.
    expect(plain(await scoreSellers(session, graph({ q: [], r: [], rp: [], ps: [], s: 0 })))).toEqual({ score: [], confidence: [], productCount: [], reviewCount: [] });
    // S > 0, P = 0.
    const noProducts = plain(await scoreSellers(session, graph({ q: [], r: [], rp: [], ps: [], s: 2 })));
    close(noProducts.score, [0.6, 0.6]);
    expect(noProducts.confidence).toEqual([0, 0]);
    expect(noProducts.productCount).toEqual([0, 0]);
    expect(noProducts.reviewCount).toEqual([0, 0]);
    // Products without reviews (R = 0, P > 0).
    const noReviews = plain(await scoreSellers(session, graph({ q: [], r: [], rp: [], ps: [1, 1, 0], s: 3 })));
    close(noReviews.score, [0.6, 0.6, 0.6]);
    expect(noReviews.confidence).toEqual([0, 0, 0]);
    expect(noReviews.productCount).toEqual([1, 2, 0]);
    expect(noReviews.reviewCount).toEqual([0, 0, 0]);
    // Only fully distrusted reviews: counted, but the score stays at the prior.
    const distrusted = plain(await scoreSellers(session, graph({ q: [0, 0], r: [1, 1], rp: [0, 0], ps: [0], s: 1 })));
    close(distrusted.score, [0.6]);
    expect(distrusted.confidence).toEqual([0]);
    expect(distrusted.reviewCount).toEqual([2]);
    await session.release();
  });

  it('rejects inconsistent graphs before running the model', async () => {
    const session = await loadSession(sellerScorerModel(prior));
    await expect(scoreSellers(session, graph({ q: [1], r: [1], rp: [1], ps: [0], s: 1 }))).rejects.toThrow(/product 1 of 1/);
    await expect(scoreSellers(session, graph({ q: [1], r: [1], rp: [0], ps: [2], s: 2 }))).rejects.toThrow(/seller 2 of 2/);
    await expect(scoreSellers(session, graph({ q: [1, 1], r: [1], rp: [0], ps: [0], s: 1 }))).rejects.toThrow(/differ in length/);
    expect(() => sellerScorerModel({ priorScore: 0.5, priorStrength: 0 })).toThrow();
    await session.release();
  });
});

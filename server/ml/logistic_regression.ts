// Logistic regression trained in-process: mini-batch Adam with L2, a fixed schedule, seeded and
// deterministic (same data, options and seed: the same weights, bit for bit). It trains on a
// sparse matrix (hashed text features are mostly zeros); the dense entry point converts.
// Plus a deterministic (optionally stratified) holdout split and the metrics AUC and log loss.
import type { SparseMatrix } from './review_features.ts';

export interface TrainOptions {
  /** Passes over the training rows (default 12); see minSteps. */
  epochs?: number;
  /** At least this many Adam steps, however few the rows (default 400): small data still converges. */
  minSteps?: number;
  /** Rows per step (default 256). */
  batchSize?: number;
  /** Adam's step size at the start; it decays linearly to a tenth by the end (default 0.02). */
  learningRate?: number;
  /** L2 penalty on the weights (not the bias): loss = mean log loss + l2/2 · |w|² (default 1e-4). */
  l2?: number;
  /** Seed of the shuffling (default 1). */
  seed?: number;
}

export interface LogisticModel {
  weights: Float32Array;
  bias: number;
}

/** mulberry32: a small, fast, seeded PRNG; returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffleInPlace(a: Int32Array, random: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** A dense row-major n × d matrix as CSR (zeros dropped). */
export function toSparse(x: Float32Array, n: number, d: number): SparseMatrix {
  if (x.length !== n * d) throw new Error(`toSparse: expected ${n}×${d} = ${n * d} values, got ${x.length}`);
  let nnz = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) nnz++;
  const rowPtr = new Int32Array(n + 1);
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const base = i * d;
    for (let j = 0; j < d; j++) {
      const v = x[base + j];
      if (v !== 0) {
        indices[k] = j;
        values[k++] = v;
      }
    }
    rowPtr[i + 1] = k;
  }
  return { n, d, rowPtr, indices, values };
}

/**
 * Trains on a dense row-major n × d matrix x with labels y (0 or 1).
 */
export function trainLogisticRegression(
  x: Float32Array,
  y: ArrayLike<number>,
  n: number,
  d: number,
  options: TrainOptions = {},
): LogisticModel {
  return trainLogisticRegressionSparse(toSparse(x, n, d), y, options);
}

/**
 * Trains on a sparse matrix with labels y (0 or 1, indexed like the matrix's rows); `rows`
 * restricts training to those row indices (e.g. a split's train part), default all.
 */
export function trainLogisticRegressionSparse(
  m: SparseMatrix,
  y: ArrayLike<number>,
  options: TrainOptions = {},
  rows?: ArrayLike<number>,
): LogisticModel {
  const { epochs = 12, minSteps = 400, batchSize = 256, learningRate = 0.02, l2 = 1e-4, seed = 1 } = options;
  if (y.length !== m.n) throw new Error(`trainLogisticRegression: ${m.n} rows but ${y.length} labels`);
  const order = rows ? Int32Array.from(rows) : Int32Array.from({ length: m.n }, (_, i) => i);
  const n = order.length;
  const d = m.d;
  const w = new Float64Array(d);
  if (n === 0) return { weights: new Float32Array(d), bias: 0 };

  let positives = 0;
  for (let i = 0; i < n; i++) {
    const label = y[order[i]];
    if (label !== 0 && label !== 1) throw new Error(`trainLogisticRegression: label ${label} of row ${order[i]} is not 0 or 1`);
    positives += label;
  }
  // Start the bias at the prior's log-odds: the weights only learn what the prior does not say.
  const prior = Math.min(1 - 1e-4, Math.max(1e-4, positives / n));
  let b = Math.log(prior / (1 - prior));

  const batch = Math.max(1, Math.min(batchSize, n));
  const stepsPerEpoch = Math.ceil(n / batch);
  const totalEpochs = Math.max(epochs, Math.ceil(minSteps / stepsPerEpoch));
  const totalSteps = totalEpochs * stepsPerEpoch;
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  const mw = new Float64Array(d);
  const vw = new Float64Array(d);
  const g = new Float64Array(d);
  let mb = 0;
  let vb = 0;
  let beta1Power = 1;
  let beta2Power = 1;
  let step = 0;
  const random = seededRandom(seed);
  const { rowPtr, indices, values } = m;

  for (let epoch = 0; epoch < totalEpochs; epoch++) {
    shuffleInPlace(order, random);
    for (let start = 0; start < n; start += batch) {
      const end = Math.min(n, start + batch);
      const size = end - start;
      g.fill(0);
      let gb = 0;
      for (let r = start; r < end; r++) {
        const row = order[r];
        const lo = rowPtr[row];
        const hi = rowPtr[row + 1];
        let z = b;
        for (let k = lo; k < hi; k++) z += w[indices[k]] * values[k];
        const err = sigmoid(z) - y[row];
        gb += err;
        for (let k = lo; k < hi; k++) g[indices[k]] += err * values[k];
      }
      const inv = 1 / size;
      const lr = learningRate * (1 - (0.9 * step) / totalSteps);
      step++;
      beta1Power *= beta1;
      beta2Power *= beta2;
      const c1 = 1 / (1 - beta1Power);
      const c2 = 1 / (1 - beta2Power);
      for (let j = 0; j < d; j++) {
        const gj = g[j] * inv + l2 * w[j];
        const mj = (mw[j] = beta1 * mw[j] + (1 - beta1) * gj);
        const vj = (vw[j] = beta2 * vw[j] + (1 - beta2) * gj * gj);
        w[j] -= (lr * mj * c1) / (Math.sqrt(vj * c2) + eps);
      }
      gb *= inv;
      mb = beta1 * mb + (1 - beta1) * gb;
      vb = beta2 * vb + (1 - beta2) * gb * gb;
      b -= (lr * mb * c1) / (Math.sqrt(vb * c2) + eps);
    }
  }
  return { weights: Float32Array.from(w), bias: b };
}

/** Probabilities of the model for rows of a sparse matrix (default all), in JavaScript. */
export function predictSparse(model: LogisticModel, m: SparseMatrix, rows?: ArrayLike<number>): Float32Array {
  const count = rows ? rows.length : m.n;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const row = rows ? rows[i] : i;
    let z = model.bias;
    for (let k = m.rowPtr[row]; k < m.rowPtr[row + 1]; k++) z += model.weights[m.indices[k]] * m.values[k];
    out[i] = sigmoid(z);
  }
  return out;
}

export interface Split {
  train: Int32Array;
  test: Int32Array;
}

/**
 * Splits row indices 0..n-1 into train and test parts, deterministically for a seed; both in
 * ascending order. About `fraction` of the rows go to test. With labels the split is stratified:
 * each label value gives the same share to test, at least one row when it has two or more rows
 * (so a held-out AUC is defined whenever each class has two rows), and never all of its rows.
 */
export function splitHoldout(n: number, fraction: number, seed: number, labels?: ArrayLike<number>): Split {
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`splitHoldout: fraction ${fraction} is not in [0, 1]`);
  if (labels && labels.length !== n) throw new Error(`splitHoldout: ${n} rows but ${labels.length} labels`);
  const random = seededRandom(seed ^ 0x5eed);
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const key = labels ? labels[i] : 0;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push(i);
  }
  const isTest = new Uint8Array(n);
  let testCount = 0;
  for (const key of [...groups.keys()].sort((a, b) => a - b)) {
    const group = Int32Array.from(groups.get(key)!);
    shuffleInPlace(group, random);
    let take = Math.round(group.length * fraction);
    if (labels && fraction > 0 && group.length >= 2) take = Math.max(1, take);
    if (fraction < 1) take = Math.min(take, group.length - 1);
    take = Math.max(0, take);
    for (let k = 0; k < take; k++) isTest[group[k]] = 1;
    testCount += take;
  }
  const train = new Int32Array(n - testCount);
  const test = new Int32Array(testCount);
  let a = 0;
  let c = 0;
  for (let i = 0; i < n; i++) {
    if (isTest[i]) test[c++] = i;
    else train[a++] = i;
  }
  return { train, test };
}

/**
 * Area under the ROC curve: the chance that a random positive scores above a random negative
 * (ties count half). NaN when the labels hold only one class (or none).
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`auc: ${n} scores but ${labels.length} labels`);
  // NaN scores rank lowest (a comparator returning NaN would leave the order undefined).
  const s = Float64Array.from({ length: n }, (_, i) => (Number.isNaN(scores[i]) ? -Infinity : scores[i]));
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => (s[a] < s[b] ? -1 : s[a] > s[b] ? 1 : 0));
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && s[order[j + 1]] === s[order[i]]) j++;
    const averageRank = (i + j) / 2 + 1; // ranks are 1-based
    for (let k = i; k <= j; k++) {
      if (labels[order[k]] === 1) {
        positives++;
        rankSum += averageRank;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Mean binary cross-entropy of probabilities (clipped to [1e-7, 1 - 1e-7]); NaN for no rows. */
export function logLoss(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`logLoss: ${n} scores but ${labels.length} labels`);
  if (n === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.min(1 - 1e-7, Math.max(1e-7, scores[i]));
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / n;
}

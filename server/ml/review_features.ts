// Features of a review for the review scorer: hashed words and word pairs of its title and body,
// and what its metadata says (rating, length, verified purchase, duplicates, author history,
// rating against the product's mean, bursts of reviews). Pure, deterministic and fast.
//
// Layout of one row (FEATURE_COUNT columns):
//   [0, TEXT_BUCKETS)                 signed hashed unigrams + bigrams, sign(v)·log(1+|v|), L2-normalized
//   [TEXT_BUCKETS, FEATURE_COUNT)     metadata, in the order of META_FEATURES
//
// There is no constant column: the model has its own bias.
// Changing anything here changes what a stored model means: bump FEATURE_VERSION, and retrain.

export interface ReviewFeatureRow {
  review_id: string;
  title: string;
  body: string;
  rating: number; // 1..5
  verified_purchase: boolean;
  duplicate_count: number; // other reviews in the tenant with the same normalized body
  author_review_count: number; // reviews by the same author in the tenant (this one included)
  product_mean_rating: number; // mean rating of the product's reviews (this one included)
  product_review_count: number;
  same_day_product_reviews: number; // reviews of the same product within 24 h of this one (this one included)
}

/** Identifies the feature layout; stored with a trained model's metrics. */
export const FEATURE_VERSION = 'review-features-v1';

/** log2 of the number of hash buckets for words and word pairs. */
export const TEXT_BITS = 12;
export const TEXT_BUCKETS = 1 << TEXT_BITS;
const TEXT_MASK = TEXT_BUCKETS - 1;

/** Names of the metadata columns, in order, after the text buckets. */
export const META_FEATURES = [
  'rating_1',
  'rating_2',
  'rating_3',
  'rating_4',
  'rating_5',
  'rating_extremeness', // |rating - 3| / 2
  'log_body_chars', // log(1 + chars) / 8
  'log_words', // log(1 + words of title and body) / 6
  'log_title_chars', // log(1 + chars) / 5
  'empty_body',
  'verified_purchase',
  'log_duplicates', // log(1 + duplicate_count) / 3
  'has_duplicates',
  'log_author_reviews', // log(max(1, author_review_count)) / 3
  'single_review_author',
  'rating_deviation', // |rating - product_mean_rating| / 4
  'log_same_day_reviews', // log(1 + same_day_product_reviews) / 3
  'same_day_share', // same_day_product_reviews / product_review_count
  'log_product_reviews', // log(1 + product_review_count) / 5
  'exclamation_rate', // log(1 + '!' count) / 2
  'uppercase_share', // uppercase letters / letters
  'distinct_token_share', // distinct hashed words and pairs / (2·words - 1): low for repetitive text
] as const;
export const META_COUNT = META_FEATURES.length;

/** Columns of one feature row. */
export const FEATURE_COUNT = TEXT_BUCKETS + META_COUNT;

/** A row-major sparse matrix (CSR): row i has entries rowPtr[i]..rowPtr[i+1]-1. */
export interface SparseMatrix {
  n: number;
  d: number;
  rowPtr: Int32Array;
  indices: Int32Array;
  values: Float32Array;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** The murmur3 finalizer: spreads FNV's weak low bits over the whole word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Whether a (lower-cased) UTF-16 code unit belongs to a word. */
function isWordChar(c: number): boolean {
  if (c < 128) return (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
  // Latin-1 punctuation and symbols, general punctuation, CJK punctuation, and fullwidth forms'
  // punctuation split words; other non-ASCII (letters of every script, surrogates) is kept.
  if (c < 0xc0) return c === 0xaa || c === 0xb5 || c === 0xba;
  if (c === 0xd7 || c === 0xf7) return false;
  if (c >= 0x2000 && c <= 0x206f) return false;
  if (c >= 0x3000 && c <= 0x303f) return false;
  if (c >= 0xff00 && c <= 0xff0f) return false;
  return true;
}

/** Scratch state of featurizeRow (module-level: featurizing never yields, so calls cannot interleave). */
const acc = new Float64Array(TEXT_BUCKETS);
const touchedFlag = new Uint8Array(TEXT_BUCKETS);
const touched = new Int32Array(TEXT_BUCKETS);
let touchedCount = 0;
const meta = new Float64Array(META_COUNT);

/** log(1 + k) for the small counts buckets hold. */
const LOG1P_TABLE_SIZE = 64;
const LOG1P = Float64Array.from({ length: LOG1P_TABLE_SIZE }, (_, k) => Math.log1p(k));

function addBucket(h: number): void {
  const mixed = fmix32(h);
  const bucket = mixed & TEXT_MASK;
  if (touchedFlag[bucket] === 0) {
    touchedFlag[bucket] = 1;
    touched[touchedCount++] = bucket;
  }
  acc[bucket] += mixed & 0x80000000 ? -1 : 1;
}

interface TextStats {
  words: number;
  upper: number;
  letters: number;
  exclamations: number;
}
const stats: TextStats = { words: 0, upper: 0, letters: 0, exclamations: 0 };

/** Hashes the words and word pairs of one text into the accumulators; counts what the metadata needs. */
function hashText(text: string): void {
  const lower = text.toLowerCase();
  const len = lower.length;
  // Lower-casing can change the length (rare): then capitals are not counted.
  const aligned = len === text.length;
  let prev = 0; // hash of the previous word, 0 at the start
  let h = FNV_OFFSET;
  let inWord = false;
  for (let i = 0; i <= len; i++) {
    const c = i < len ? lower.charCodeAt(i) : 32;
    const wordChar = isWordChar(c);
    if (wordChar) {
      if (c > 57) {
        stats.letters++;
        if (aligned && text.charCodeAt(i) !== c) stats.upper++;
      }
      if (!inWord) {
        inWord = true;
        h = FNV_OFFSET;
      }
      h = Math.imul(h ^ c, FNV_PRIME);
    } else {
      if (c === 33) stats.exclamations++;
      if (inWord) {
        inWord = false;
        const word = (h >>> 0) || 1;
        stats.words++;
        addBucket(word);
        if (prev !== 0) addBucket(Math.imul(prev ^ 0x9e3779b9, FNV_PRIME) ^ word);
        prev = word;
      }
    }
  }
}

function finite(value: unknown): number {
  const x = Number(value);
  return Number.isFinite(x) ? x : 0;
}

/**
 * Featurizes one row into the scratch state: text buckets in acc/touched (already transformed and
 * normalized), metadata in meta.
 */
function featurizeRow(row: ReviewFeatureRow): void {
  for (let i = 0; i < touchedCount; i++) {
    acc[touched[i]] = 0;
    touchedFlag[touched[i]] = 0;
  }
  touchedCount = 0;
  stats.words = 0;
  stats.upper = 0;
  stats.letters = 0;
  stats.exclamations = 0;
  const title = typeof row.title === 'string' ? row.title : '';
  const body = typeof row.body === 'string' ? row.body : '';
  // Title and body share buckets (a word means the same in both) but no pair spans them.
  hashText(title);
  hashText(body);
  const words = stats.words;

  let norm = 0;
  for (let i = 0; i < touchedCount; i++) {
    const b = touched[i];
    const v = acc[b];
    const t = v >= 0 ? (v < LOG1P_TABLE_SIZE ? LOG1P[v] : Math.log1p(v)) : -v < LOG1P_TABLE_SIZE ? -LOG1P[-v] : -Math.log1p(-v);
    acc[b] = t;
    norm += t * t;
  }
  if (norm > 0) {
    const scale = 1 / Math.sqrt(norm);
    for (let i = 0; i < touchedCount; i++) acc[touched[i]] *= scale;
  }

  const rating = Math.min(5, Math.max(1, Math.round(finite(row.rating) || 3)));
  const productCount = Math.max(1, finite(row.product_review_count));
  const productMean = row.product_mean_rating == null ? rating : finite(row.product_mean_rating) || rating;
  const duplicates = Math.max(0, finite(row.duplicate_count));
  const authorReviews = Math.max(1, finite(row.author_review_count));
  const sameDay = Math.max(0, finite(row.same_day_product_reviews));
  let m = 0;
  for (let r = 1; r <= 5; r++) meta[m++] = rating === r ? 1 : 0;
  meta[m++] = Math.abs(rating - 3) / 2;
  meta[m++] = Math.log1p(body.length) / 8;
  meta[m++] = Math.log1p(words) / 6;
  meta[m++] = Math.log1p(title.length) / 5;
  meta[m++] = body.trim().length === 0 ? 1 : 0;
  meta[m++] = row.verified_purchase === true ? 1 : 0;
  meta[m++] = Math.log1p(duplicates) / 3;
  meta[m++] = duplicates > 0 ? 1 : 0;
  meta[m++] = Math.log(authorReviews) / 3;
  meta[m++] = authorReviews <= 1 ? 1 : 0;
  meta[m++] = Math.min(4, Math.abs(rating - productMean)) / 4;
  meta[m++] = Math.log1p(sameDay) / 3;
  meta[m++] = Math.min(1, sameDay / productCount);
  meta[m++] = Math.log1p(productCount) / 5;
  meta[m++] = Math.log1p(stats.exclamations) / 2;
  meta[m++] = stats.letters > 0 ? stats.upper / stats.letters : 0;
  // Distinct buckets over tokens (words + pairs, about 2·words - 1): repetitive text is low.
  meta[m++] = words > 0 ? Math.min(1, touchedCount / Math.max(1, 2 * words - 1)) : 0;
}

/** A buffer for n dense rows: `out`'s first n·d values, zeroed, or a new array when there is no `out`. */
function denseOutput(n: number, d: number, out: Float32Array | undefined): Float32Array {
  if (!out) return new Float32Array(n * d);
  if (out.length < n * d) throw new Error(`feature buffer too small: ${out.length} values for ${n}×${d}`);
  const view = out.subarray(0, n * d);
  view.fill(0);
  return view;
}

/**
 * Features of the rows as a dense row-major matrix, n × FEATURE_COUNT (what the review scorer's
 * ONNX input `features` takes). That is 4 · FEATURE_COUNT bytes (about 16 kB) a row: featurize
 * chunks of a few thousand rows, not a whole table.
 *
 * `out`, when given, is reused: the result is a view of its first n · FEATURE_COUNT values (it
 * must hold that many), valid until the buffer's next use. Reusing one buffer per process avoids
 * touching fresh memory for every chunk, which costs more than featurizing on some VMs.
 */
export function featurize(rows: ReviewFeatureRow[], out?: Float32Array): Float32Array {
  const n = rows.length;
  const dense = denseOutput(n, FEATURE_COUNT, out);
  for (let i = 0; i < n; i++) {
    featurizeRow(rows[i]);
    const base = i * FEATURE_COUNT;
    for (let k = 0; k < touchedCount; k++) dense[base + touched[k]] = acc[touched[k]];
    const metaBase = base + TEXT_BUCKETS;
    for (let k = 0; k < META_COUNT; k++) dense[metaBase + k] = meta[k];
  }
  return dense;
}

/** The same features as featurize, as a sparse matrix: for training on many rows. */
export function featurizeSparse(rows: ReviewFeatureRow[]): SparseMatrix {
  const n = rows.length;
  const rowPtr = new Int32Array(n + 1);
  // An upper bound of the entries (a row has at most a word and a pair per two characters), so
  // the arrays never grow; pages beyond what is written are never touched, so never paid for.
  let capacity = 0;
  for (let i = 0; i < n; i++) {
    const { title, body } = rows[i];
    const chars = (typeof title === 'string' ? title.length : 0) + (typeof body === 'string' ? body.length : 0);
    capacity += Math.min(TEXT_BUCKETS, chars + 2) + META_COUNT;
  }
  const indices = new Int32Array(capacity);
  const values = new Float32Array(capacity);
  let nnz = 0;
  for (let i = 0; i < n; i++) {
    featurizeRow(rows[i]);
    for (let k = 0; k < touchedCount; k++) {
      const b = touched[k];
      const v = acc[b];
      if (v !== 0) {
        indices[nnz] = b;
        values[nnz++] = v;
      }
    }
    for (let k = 0; k < META_COUNT; k++) {
      if (meta[k] !== 0) {
        indices[nnz] = TEXT_BUCKETS + k;
        values[nnz++] = meta[k];
      }
    }
    rowPtr[i + 1] = nnz;
  }
  return { n, d: FEATURE_COUNT, rowPtr, indices: indices.subarray(0, nnz), values: values.subarray(0, nnz) };
}

/** Dense rows of a sparse matrix (the given row indices, default all), row-major; `out` as for featurize. */
export function densify(m: SparseMatrix, rows?: ArrayLike<number>, out?: Float32Array): Float32Array {
  const count = rows ? rows.length : m.n;
  const dense = denseOutput(count, m.d, out);
  for (let i = 0; i < count; i++) {
    const row = rows ? rows[i] : i;
    const base = i * m.d;
    for (let k = m.rowPtr[row]; k < m.rowPtr[row + 1]; k++) dense[base + m.indices[k]] = m.values[k];
  }
  return dense;
}

// What the recommender reads of a product: hashed words of its name and description, its category
// (and the categories above it) and its price band, as weighted feature buckets. The embedding
// model (onnx_models.ts) turns these into vectors. A product's features depend on that product
// alone, never on the rest of the catalogue, so an unchanged product keeps its embedding and a
// retrain can recompute only what changed.

export const PRODUCT_FEATURE_BUCKETS = 1 << 14;

export interface ProductText {
  name: string;
  category: string;
  description: string;
  /** app_private.price_band(price): half-octaves of the price. */
  price_band: number;
}

export interface ProductFeatures {
  buckets: Int32Array;
  weights: Float32Array;
}

/** Words too common in product text to say anything about similarity. */
const STOP_WORDS = new Set(
  ('a an and are as at be by for from has have in is it its of on or our that the this to was were will with your you ' +
    'new best great quality perfect ideal made use using can')
    .split(' '),
);

/** Weight of the category (relative to the text, whose weights are normalized to length 1). */
const CATEGORY_WEIGHT = 0.9;
/** Weight of each category above the product's own, e.g. `kitchen` for `kitchen/knives`. */
const PARENT_CATEGORY_WEIGHT = 0.45;
const PRICE_BAND_WEIGHT = 0.35;
const NEIGHBOUR_PRICE_BAND_WEIGHT = 0.15;
const NAME_WORD_WEIGHT = 2;
const DESCRIPTION_WORD_WEIGHT = 1;
const NAME_PAIR_WEIGHT = 1;
/** Text features kept per product (the heaviest); a long description adds little beyond these. */
const MAX_TEXT_FEATURES = 160;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** The bucket of a feature name: FNV-1a, then a finalizer so that similar names spread. */
export function featureBucket(feature: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < feature.length; i++) h = Math.imul(h ^ feature.charCodeAt(i), FNV_PRIME);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) & (PRODUCT_FEATURE_BUCKETS - 1);
}

export function words(text: string): string[] {
  const found = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return found.filter((word) => word.length > 1 && !STOP_WORDS.has(word));
}

function add(features: Map<number, number>, feature: string, weight: number): void {
  const bucket = featureBucket(feature);
  features.set(bucket, (features.get(bucket) ?? 0) + weight);
}

export function productFeatures(product: ProductText): ProductFeatures {
  // Text: word counts, damped (a word said five times is not five times the evidence), then
  // scaled to length 1 so that long and short descriptions weigh the same against the category.
  const text = new Map<number, number>();
  const nameWords = words(product.name);
  for (const word of nameWords) add(text, `w:${word}`, NAME_WORD_WEIGHT);
  for (let i = 1; i < nameWords.length; i++) add(text, `p:${nameWords[i - 1]} ${nameWords[i]}`, NAME_PAIR_WEIGHT);
  for (const word of words(product.description)) add(text, `w:${word}`, DESCRIPTION_WORD_WEIGHT);
  let entries = [...text.entries()].map(([bucket, weight]) => [bucket, Math.sqrt(weight)] as [number, number]);
  if (entries.length > MAX_TEXT_FEATURES) entries = entries.sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, MAX_TEXT_FEATURES);
  let squares = 0;
  for (const [, weight] of entries) squares += weight * weight;
  const scale = squares > 0 ? 1 / Math.sqrt(squares) : 0;

  const features = new Map<number, number>();
  for (const [bucket, weight] of entries) features.set(bucket, weight * scale);
  const category = product.category.trim().toLowerCase();
  if (category) {
    add(features, `c:${category}`, CATEGORY_WEIGHT);
    for (let slash = category.lastIndexOf('/'); slash > 0; slash = category.lastIndexOf('/', slash - 1)) {
      add(features, `c:${category.slice(0, slash)}`, PARENT_CATEGORY_WEIGHT);
    }
  }
  add(features, `b:${product.price_band}`, PRICE_BAND_WEIGHT);
  add(features, `b:${product.price_band - 1}`, NEIGHBOUR_PRICE_BAND_WEIGHT);
  add(features, `b:${product.price_band + 1}`, NEIGHBOUR_PRICE_BAND_WEIGHT);

  const buckets = new Int32Array(features.size);
  const weights = new Float32Array(features.size);
  let i = 0;
  for (const [bucket, weight] of features) {
    buckets[i] = bucket;
    weights[i++] = weight;
  }
  return { buckets, weights };
}

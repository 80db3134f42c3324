// The scoring models as ONNX files (bytes), built with onnx-proto: what onnxruntime-node serves
// and what app_private stores. IR version 8, default-domain opset 17 (ScatterElements with
// reduction='add' needs 16 or later); onnxruntime-node 1.30 runs both on the CPU provider.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const IR_VERSION = 8;
export const OPSET = 17;
const PRODUCER = 'finishline';

type NodeSpec = { op: string; inputs: string[]; outputs: string[]; attributes?: onnxProto.onnx.IAttributeProto[] };

function node({ op, inputs, outputs, attributes = [] }: NodeSpec, index: number): onnxProto.onnx.INodeProto {
  return { opType: op, input: inputs, output: outputs, name: `${op.toLowerCase()}_${index}`, attribute: attributes };
}

function tensorValue(name: string, elemType: number, dims: (number | string)[], docString?: string): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    docString,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((dim) => (typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim })) },
      },
    },
  };
}

function floatInitializer(name: string, dims: number[], data: ArrayLike<number>): onnxProto.onnx.ITensorProto {
  return { name, dataType: onnx.TensorProto.DataType.FLOAT, dims, floatData: Array.from(data) };
}

function floatAttribute(name: string, value: number): onnxProto.onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value };
}

function intAttribute(name: string, value: number): onnxProto.onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}

function stringAttribute(name: string, value: string): onnxProto.onnx.IAttributeProto {
  // A bytes field: give bytes (protobufjs would read a JavaScript string as base64).
  return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(value) };
}

/** A scalar float tensor attribute, e.g. ConstantOfShape's `value`. */
function tensorAttribute(name: string, value: number): onnxProto.onnx.IAttributeProto {
  return {
    name,
    type: onnx.AttributeProto.AttributeType.TENSOR,
    t: { dataType: onnx.TensorProto.DataType.FLOAT, dims: [1], floatData: [value] },
  };
}

function encodeModel(graph: onnxProto.onnx.IGraphProto, docString: string): Uint8Array {
  const model = onnx.ModelProto.fromObject({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: PRODUCER,
    docString,
    graph,
  });
  const error = onnx.ModelProto.verify(model);
  if (error) throw new Error(`invalid ONNX model: ${error}`);
  return onnx.ModelProto.encode(model).finish();
}

export interface ReviewScorerParams {
  weights: ArrayLike<number>;
  bias: number;
  featureCount: number;
}

/**
 * The review scorer: a logistic regression.
 *
 * Input `features` float32 [N, D] (N dynamic, D = featureCount; rows from review_features.ts's
 * `featurize`). Output `score` float32 [N] = sigmoid(features · w + b): the probability that the
 * review is FAKE (1 = fake, 0 = genuine). Ops: MatMul, Squeeze, Add, Sigmoid.
 */
export function reviewScorerModel({ weights, bias, featureCount }: ReviewScorerParams): Uint8Array {
  if (!Number.isInteger(featureCount) || featureCount < 1) throw new Error(`reviewScorerModel: bad featureCount ${featureCount}`);
  if (weights.length !== featureCount) throw new Error(`reviewScorerModel: ${weights.length} weights for ${featureCount} features`);
  if (!Number.isFinite(bias)) throw new Error('reviewScorerModel: the bias is not finite');
  for (let i = 0; i < weights.length; i++) {
    if (!Number.isFinite(weights[i])) throw new Error(`reviewScorerModel: weight ${i} is not finite`);
  }
  const nodes: NodeSpec[] = [
    // [N, D] × [D, 1] → [N, 1] (a 1-D right operand fails in onnxruntime when N = 0).
    { op: 'MatMul', inputs: ['features', 'weights'], outputs: ['logit_column'] },
    { op: 'Squeeze', inputs: ['logit_column', 'squeeze_axes'], outputs: ['logit_no_bias'] },
    { op: 'Add', inputs: ['logit_no_bias', 'bias'], outputs: ['logit'] },
    { op: 'Sigmoid', inputs: ['logit'], outputs: ['score'] },
  ];
  return encodeModel(
    {
      name: 'review_scorer',
      node: nodes.map(node),
      initializer: [
        floatInitializer('weights', [featureCount, 1], weights),
        floatInitializer('bias', [], [bias]),
        { name: 'squeeze_axes', dataType: onnx.TensorProto.DataType.INT64, dims: [1], int64Data: [1] },
      ],
      input: [tensorValue('features', onnx.TensorProto.DataType.FLOAT, ['N', featureCount], 'Review features, one row a review.')],
      output: [tensorValue('score', onnx.TensorProto.DataType.FLOAT, ['N'], 'Probability that the review is fake.')],
    },
    'Review scorer: logistic regression over hashed text and metadata features; score = P(fake).',
  );
}

export interface SellerScorerParams {
  /** Score of a seller with no (trusted) reviews, in 0..1. */
  priorScore: number;
  /** Weight of the prior, in trusted reviews (> 0). */
  priorStrength: number;
}

/**
 * The seller scorer: a graph model over sellers ← products ← reviews, entirely in the ONNX graph.
 *
 * Inputs:
 * - `review_quality` float32 [R]: how much to trust each review (1 - its fake probability)
 * - `review_rating` float32 [R]: its rating normalized to 0..1 ((stars - 1) / 4)
 * - `review_product` int64 [R]: its product's index in 0..P-1
 * - `product_seller` int64 [P]: each product's seller's index in 0..S-1
 * - `seller_slots` float32 [S]: zeros; only its length (S) counts
 *
 * Outputs, per seller [S], with q = quality, r = rating, k = priorStrength:
 * - `score` = (Σ q·r + k·priorScore) / (Σ q + k): the trust-weighted mean rating smoothed toward the prior
 * - `confidence` = Σ q / (Σ q + k)
 * - `product_count`, `review_count` (float32)
 *
 * Reviews aggregate onto products and products onto sellers with ScatterElements
 * (reduction='add') into zeros made by Shape + ConstantOfShape; then Mul, Add, Div. Every size
 * may be zero: sellers without products and products without reviews get the prior, zero
 * confidence and zero counts. Indices must be in range (onnxruntime rejects others).
 */
export function sellerScorerModel({ priorScore, priorStrength }: SellerScorerParams): Uint8Array {
  if (!(Number.isFinite(priorScore) && priorScore >= 0 && priorScore <= 1)) throw new Error(`sellerScorerModel: priorScore ${priorScore} is not in 0..1`);
  if (!(Number.isFinite(priorStrength) && priorStrength > 0)) throw new Error(`sellerScorerModel: priorStrength ${priorStrength} must be > 0`);
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const INT64 = onnx.TensorProto.DataType.INT64;
  const zerosOf = (source: string, name: string): NodeSpec[] => [
    { op: 'Shape', inputs: [source], outputs: [`${name}_shape`] },
    { op: 'ConstantOfShape', inputs: [`${name}_shape`], outputs: [name], attributes: [tensorAttribute('value', 0)] },
  ];
  const onesOf = (source: string, name: string): NodeSpec[] => [
    { op: 'Shape', inputs: [source], outputs: [`${name}_shape`] },
    { op: 'ConstantOfShape', inputs: [`${name}_shape`], outputs: [name], attributes: [tensorAttribute('value', 1)] },
  ];
  const scatterAdd = (data: string, indices: string, updates: string, output: string): NodeSpec => ({
    op: 'ScatterElements',
    inputs: [data, indices, updates],
    outputs: [output],
    attributes: [intAttribute('axis', 0), stringAttribute('reduction', 'add')],
  });
  const nodes: NodeSpec[] = [
    // Reviews → products.
    { op: 'Mul', inputs: ['review_quality', 'review_rating'], outputs: ['review_weighted_rating'] },
    ...onesOf('review_quality', 'review_ones'),
    ...zerosOf('product_seller', 'product_zeros'),
    scatterAdd('product_zeros', 'review_product', 'review_quality', 'product_quality'),
    scatterAdd('product_zeros', 'review_product', 'review_weighted_rating', 'product_weighted_rating'),
    scatterAdd('product_zeros', 'review_product', 'review_ones', 'product_reviews'),
    // Products → sellers.
    ...onesOf('product_seller', 'product_ones'),
    ...zerosOf('seller_slots', 'seller_zeros'),
    scatterAdd('seller_zeros', 'product_seller', 'product_quality', 'seller_quality'),
    scatterAdd('seller_zeros', 'product_seller', 'product_weighted_rating', 'seller_weighted_rating'),
    scatterAdd('seller_zeros', 'product_seller', 'product_reviews', 'review_count'),
    scatterAdd('seller_zeros', 'product_seller', 'product_ones', 'product_count'),
    // Smoothing toward the prior.
    { op: 'Add', inputs: ['seller_weighted_rating', 'prior_mass'], outputs: ['score_numerator'] },
    { op: 'Add', inputs: ['seller_quality', 'prior_strength'], outputs: ['score_denominator'] },
    { op: 'Div', inputs: ['score_numerator', 'score_denominator'], outputs: ['score'] },
    { op: 'Div', inputs: ['seller_quality', 'score_denominator'], outputs: ['confidence'] },
  ];
  return encodeModel(
    {
      name: 'seller_scorer',
      node: nodes.map(node),
      initializer: [
        floatInitializer('prior_mass', [], [priorStrength * priorScore]),
        floatInitializer('prior_strength', [], [priorStrength]),
      ],
      input: [
        tensorValue('review_quality', FLOAT, ['R'], 'Trust in each review: 1 - P(fake).'),
        tensorValue('review_rating', FLOAT, ['R'], 'Each review\'s rating normalized to 0..1.'),
        tensorValue('review_product', INT64, ['R'], 'Each review\'s product index (0..P-1).'),
        tensorValue('product_seller', INT64, ['P'], 'Each product\'s seller index (0..S-1).'),
        tensorValue('seller_slots', FLOAT, ['S'], 'Zeros, one a seller: gives S.'),
      ],
      output: [
        tensorValue('score', FLOAT, ['S'], 'Trust-weighted mean normalized rating, smoothed toward the prior.'),
        tensorValue('confidence', FLOAT, ['S'], 'Σ trust / (Σ trust + prior strength).'),
        tensorValue('product_count', FLOAT, ['S'], 'Products of the seller.'),
        tensorValue('review_count', FLOAT, ['S'], 'Reviews of the seller\'s products.'),
      ],
    },
    `Seller scorer: prior score ${priorScore}, prior strength ${priorStrength}.`,
  );
}

export interface ProductEmbeddingParams {
  /** float32 [buckets, dimensions], row-major: the vector each hashed feature adds. */
  projection: Float32Array;
  buckets: number;
  dimensions: number;
}

/**
 * The recommender's product embedding: a bag of hashed features projected to a small dense space.
 *
 * Inputs `feature_ids` int32 [N, T] (bucket numbers, padded with 0) and `feature_weights` float32
 * [N, T] (0 for padding). Output `embedding` float32 [N, D] = normalize(Σ_t weight_t · projection[id_t]):
 * unit length, so that a dot product of two embeddings is their cosine similarity (all-zero rows
 * stay zero). Ops: Gather, Unsqueeze, Mul, ReduceSum, ReduceL2, Add, Div.
 */
export function productEmbeddingModel({ projection, buckets, dimensions }: ProductEmbeddingParams): Uint8Array {
  if (projection.length !== buckets * dimensions) throw new Error(`productEmbeddingModel: ${projection.length} values for ${buckets}×${dimensions}`);
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const INT64 = onnx.TensorProto.DataType.INT64;
  const nodes: NodeSpec[] = [
    { op: 'Gather', inputs: ['projection', 'feature_ids'], outputs: ['feature_vectors'], attributes: [intAttribute('axis', 0)] },
    { op: 'Unsqueeze', inputs: ['feature_weights', 'last_axis'], outputs: ['weight_column'] },
    { op: 'Mul', inputs: ['feature_vectors', 'weight_column'], outputs: ['weighted_vectors'] },
    { op: 'ReduceSum', inputs: ['weighted_vectors', 'feature_axis'], outputs: ['summed'], attributes: [intAttribute('keepdims', 0)] },
    // (Up to opset 17 ReduceL2 takes its axes as an attribute; ReduceSum as an input since 13.)
    { op: 'ReduceL2', inputs: ['summed'], outputs: ['length'], attributes: [{ name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [1] }, intAttribute('keepdims', 1)] },
    { op: 'Add', inputs: ['length', 'epsilon'], outputs: ['safe_length'] },
    { op: 'Div', inputs: ['summed', 'safe_length'], outputs: ['embedding'] },
  ];
  return encodeModel(
    {
      name: 'product_embedding',
      node: nodes.map(node),
      initializer: [
        { name: 'projection', dataType: FLOAT, dims: [buckets, dimensions], rawData: new Uint8Array(projection.buffer, projection.byteOffset, projection.byteLength) },
        { name: 'last_axis', dataType: INT64, dims: [1], int64Data: [2] },
        { name: 'feature_axis', dataType: INT64, dims: [1], int64Data: [1] },
        floatInitializer('epsilon', [], [1e-12]),
      ],
      input: [
        tensorValue('feature_ids', onnx.TensorProto.DataType.INT32, ['N', 'T'], 'Hashed feature buckets of each product, padded with 0.'),
        tensorValue('feature_weights', FLOAT, ['N', 'T'], 'Their weights, 0 for padding.'),
      ],
      output: [tensorValue('embedding', FLOAT, ['N', dimensions], 'Unit-length product embeddings.')],
    },
    `Product embedding: ${buckets} hashed feature buckets projected to ${dimensions} dimensions.`,
  );
}

/**
 * Blocked nearest-neighbour search by dot product (cosine similarity for unit vectors).
 *
 * Inputs `queries` float32 [B, D], `corpus_t` float32 [D, N] (the corpus transposed once per
 * search, not per block) and `k` int64 [1] (at most N). Outputs, per query, the k best
 * `scores` float32 [B, k] and their corpus `indices` int64 [B, k], best first. Ops: MatMul, TopK.
 */
export function similaritySearchModel(dimensions: number): Uint8Array {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const INT64 = onnx.TensorProto.DataType.INT64;
  const nodes: NodeSpec[] = [
    { op: 'MatMul', inputs: ['queries', 'corpus_t'], outputs: ['similarity'] },
    { op: 'TopK', inputs: ['similarity', 'k'], outputs: ['scores', 'indices'], attributes: [intAttribute('axis', 1), intAttribute('largest', 1), intAttribute('sorted', 1)] },
  ];
  return encodeModel(
    {
      name: 'similarity_search',
      node: nodes.map(node),
      initializer: [],
      input: [
        tensorValue('queries', FLOAT, ['B', dimensions], 'A block of query embeddings.'),
        tensorValue('corpus_t', FLOAT, [dimensions, 'N'], 'The corpus embeddings, one column each.'),
        tensorValue('k', INT64, [1], 'How many neighbours per query (at most N).'),
      ],
      output: [
        tensorValue('scores', FLOAT, ['B', 'K'], 'Similarities of the best matches, best first.'),
        tensorValue('indices', INT64, ['B', 'K'], 'Their positions in the corpus.'),
      ],
    },
    `Similarity search over ${dimensions}-dimensional embeddings: MatMul then TopK.`,
  );
}

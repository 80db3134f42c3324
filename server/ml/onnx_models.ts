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

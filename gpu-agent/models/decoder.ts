/**
 * A small decoder-only transformer in the KV-cache layout Hugging Face Optimum exports (nothing is
 * downloaded): inputs `input_ids` [batch, seq] int64, `attention_mask` [batch, past + seq] int64,
 * `position_ids` [batch, seq] int64 and `past_key_values.N.key|value` [batch, heads, past, headDim]
 * float32; outputs `logits` [batch, seq, vocab] and `present.N.key|value` [batch, heads, past + seq,
 * headDim]. Pre-norm layers (RMS norm, causal attention over the cache, a ReLU MLP), learned
 * position embeddings. The hidden state after layer N is `hidden.N` (typed in value_info), where
 * split.ts cuts the model into stages by layer range.
 */
import onnxProto from 'onnx-proto';
import { encodeModel, floatInitializer, prng, valueInfo, type Dim, type NodeSpec } from './build.ts';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const BOOL = onnx.TensorProto.DataType.BOOL;
const A = onnx.AttributeProto.AttributeType;

export interface DecoderOptions {
  vocab: number;
  /** Embedding width: heads × headDim. */
  embed: number;
  heads: number;
  layers: number;
  /** The MLP's inner width. */
  ffn: number;
  /** Positions the learned position embedding covers. */
  maxPositions: number;
  seed: number;
  /**
   * Trained weights by name (tok_emb, pos_emb, lN.norm1, lN.wq|wk|wv|wo, lN.norm2, lN.w1|w2,
   * norm_out, lm_head; matrices [in, out], row-major); absent: drawn from `seed`.
   */
  weights?: (name: string) => Float32Array;
}

/** The tensor names of a decoder's interface, by layer. */
export const decoderNames = {
  pastKey: (layer: number) => `past_key_values.${layer}.key`,
  pastValue: (layer: number) => `past_key_values.${layer}.value`,
  presentKey: (layer: number) => `present.${layer}.key`,
  presentValue: (layer: number) => `present.${layer}.value`,
  /** The hidden state after layer `layer` ([batch, seq, embed]); -1: the embeddings. */
  hidden: (layer: number) => `hidden.${layer}`,
};

function int64Initializer(name: string, dims: number[], values: readonly number[]): InstanceType<typeof onnx.TensorProto> {
  const data = BigInt64Array.from(values.map((v) => BigInt(v)));
  return onnx.TensorProto.create({ name, dims, dataType: INT64, rawData: new Uint8Array(data.buffer) });
}

/** Builds the decoder as ONNX bytes, its weights drawn from `seed` (uniform, scaled by 1/sqrt(fan-in)). */
export function buildDecoderModel(o: DecoderOptions): Uint8Array {
  if (o.embed % o.heads !== 0) throw new Error('embed must be a multiple of heads');
  const headDim = o.embed / o.heads;
  const rand = prng(o.seed);
  const weights = (n: number, fanIn: number) => {
    const a = new Float32Array(n);
    const s = 1 / Math.sqrt(fanIn);
    for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * s;
    return a;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  /** A parameter: the trained one when given (checked for its size), else the drawn default. */
  const param = (name: string, dims: number[], drawn: () => Float32Array) => {
    const given = o.weights?.(name);
    const size = dims.reduce((a, b) => a * b, 1);
    if (given && given.length !== size) throw new Error(`weight ${name} has ${given.length} values; [${dims.join(', ')}] needs ${size}`);
    return floatInitializer(name, dims, given ?? drawn());
  };
  const nodes: NodeSpec[] = [];
  const init: InstanceType<typeof onnx.TensorProto>[] = [];
  let counter = 0;
  const node = (opType: string, input: string[], output?: string, attribute?: Record<string, unknown>[]) => {
    const out = output ?? `t${counter++}`;
    nodes.push({ opType, input, output: [out], name: `${opType.toLowerCase()}_${out}`, ...(attribute && { attribute }) });
    return out;
  };
  const ints = (name: string, v: number[]) => ({ name, type: A.INTS, ints: v });
  const int = (name: string, v: number) => ({ name, type: A.INT, i: v });

  init.push(
    param('tok_emb', [o.vocab, o.embed], () => weights(o.vocab * o.embed, 1)),
    param('pos_emb', [o.maxPositions, o.embed], () => weights(o.maxPositions * o.embed, 4)),
    floatInitializer('eps', [], new Float32Array([1e-5])),
    floatInitializer('scale', [], new Float32Array([1 / Math.sqrt(headDim)])),
    floatInitializer('masked', [], new Float32Array([-1e9])),
    int64Initializer('heads_shape', [4], [0, 0, o.heads, headDim]),
    int64Initializer('embed_shape', [3], [0, 0, o.embed]),
    int64Initializer('zero', [], [0]),
    int64Initializer('one', [], [1]),
    int64Initializer('axes_0_1', [2], [0, 1]),
    int64Initializer('axes_1', [1], [1]),
    int64Initializer('axes_2', [1], [2]),
  );

  /** x / sqrt(mean(x²) + eps) × gain, over the last axis. */
  const rmsNorm = (x: string, gain: string) => {
    const sq = node('Mul', [x, x]);
    const mean = node('ReduceMean', [sq], undefined, [ints('axes', [-1]), int('keepdims', 1)]);
    const root = node('Sqrt', [node('Add', [mean, 'eps'])]);
    return node('Mul', [node('Div', [x, root]), gain]);
  };
  const heads = (x: string) => node('Transpose', [node('Reshape', [x, 'heads_shape'])], undefined, [ints('perm', [0, 2, 1, 3])]);

  // Which keys each query may see: its own position and before, and only where the mask is 1.
  const total = node('Gather', [node('Shape', ['attention_mask']), 'one'], 'total_len');
  const keys = node('Unsqueeze', [node('Range', ['zero', total, 'one']), 'axes_0_1']); // [1, 1, T]
  const queries = node('Unsqueeze', ['position_ids', 'axes_2']); // [b, s, 1]
  const causal = node('LessOrEqual', [keys, queries]); // [b, s, T]
  const present = node('Unsqueeze', [node('Cast', ['attention_mask'], undefined, [int('to', BOOL)]), 'axes_1']); // [b, 1, T]
  const allowed = node('Unsqueeze', [node('And', [causal, present]), 'axes_1'], 'allowed'); // [b, 1, s, T]

  let x = node('Add', [node('Gather', ['tok_emb', 'input_ids']), node('Gather', ['pos_emb', 'position_ids'])], decoderNames.hidden(-1));
  const batchSeq: Dim[] = [{ dimParam: 'batch' }, { dimParam: 'sequence' }];
  const hiddenInfo = [valueInfo(decoderNames.hidden(-1), FLOAT, [...batchSeq, { dimValue: o.embed }])];
  for (let l = 0; l < o.layers; l++) {
    const w = (name: string, rows: number, cols: number) => {
      init.push(param(`l${l}.${name}`, [rows, cols], () => weights(rows * cols, rows)));
      return `l${l}.${name}`;
    };
    init.push(param(`l${l}.norm1`, [o.embed], () => ones(o.embed)), param(`l${l}.norm2`, [o.embed], () => ones(o.embed)));
    const n1 = rmsNorm(x, `l${l}.norm1`);
    const q = heads(node('MatMul', [n1, w('wq', o.embed, o.embed)]));
    const k = heads(node('MatMul', [n1, w('wk', o.embed, o.embed)]));
    const v = heads(node('MatMul', [n1, w('wv', o.embed, o.embed)]));
    const keyAll = node('Concat', [decoderNames.pastKey(l), k], decoderNames.presentKey(l), [int('axis', 2)]);
    const valueAll = node('Concat', [decoderNames.pastValue(l), v], decoderNames.presentValue(l), [int('axis', 2)]);
    const scores = node('Mul', [node('MatMul', [q, node('Transpose', [keyAll], undefined, [ints('perm', [0, 1, 3, 2])])]), 'scale']);
    const probs = node('Softmax', [node('Where', [allowed, scores, 'masked'])], undefined, [int('axis', -1)]);
    const context = node('Reshape', [node('Transpose', [node('MatMul', [probs, valueAll])], undefined, [ints('perm', [0, 2, 1, 3])]), 'embed_shape']);
    x = node('Add', [x, node('MatMul', [context, w('wo', o.embed, o.embed)])]);
    const n2 = rmsNorm(x, `l${l}.norm2`);
    const inner = node('Relu', [node('MatMul', [n2, w('w1', o.embed, o.ffn)])]);
    x = node('Add', [x, node('MatMul', [inner, w('w2', o.ffn, o.embed)])], decoderNames.hidden(l));
    hiddenInfo.push(valueInfo(decoderNames.hidden(l), FLOAT, [...batchSeq, { dimValue: o.embed }]));
  }
  init.push(param('norm_out', [o.embed], () => ones(o.embed)));
  node('MatMul', [rmsNorm(x, 'norm_out'), (init.push(param('lm_head', [o.embed, o.vocab], () => weights(o.embed * o.vocab, o.embed))), 'lm_head')], 'logits');

  const cache = (name: string, length: string): InstanceType<typeof onnx.ValueInfoProto> => valueInfo(name, FLOAT, [{ dimParam: 'batch' }, { dimValue: o.heads }, { dimParam: length }, { dimValue: headDim }]);
  const layers = Array.from({ length: o.layers }, (_, l) => l);
  return encodeModel({
    name: 'doug_decoder',
    nodes,
    initializer: init,
    input: [
      valueInfo('input_ids', INT64, batchSeq),
      valueInfo('attention_mask', INT64, [{ dimParam: 'batch' }, { dimParam: 'total_sequence' }]),
      valueInfo('position_ids', INT64, batchSeq),
      ...layers.flatMap((l) => [cache(decoderNames.pastKey(l), 'past_sequence'), cache(decoderNames.pastValue(l), 'past_sequence')]),
    ],
    output: [
      valueInfo('logits', FLOAT, [...batchSeq, { dimValue: o.vocab }]),
      ...layers.flatMap((l) => [cache(decoderNames.presentKey(l), 'total_sequence'), cache(decoderNames.presentValue(l), 'total_sequence')]),
    ],
    valueInfo: hiddenInfo,
  });
}

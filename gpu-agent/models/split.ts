/**
 * Cutting an ONNX model into stages: a stage is the subgraph that computes some tensors (its
 * outputs) from others (its inputs), with the initializers it uses, as a model of its own (content
 * addressed like any model). Chained in order, stages compute what the whole model does, with the
 * same operators on the same values: bit for bit on one runtime. A decoder's stages are cut at the
 * hidden state between layer ranges; each takes its own layers' KV inputs and gives their outputs.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

type Model = InstanceType<typeof onnx.ModelProto>;
type ValueInfo = InstanceType<typeof onnx.ValueInfoProto>;

export interface StageCut {
  /** The tensors the stage takes: graph inputs of the model, or tensors another stage computes. */
  inputs: string[];
  /** The tensors the stage gives. */
  outputs: string[];
  /** The graph's name in the stage model (default: the model's, with the outputs). */
  name?: string;
  /**
   * Element types (onnx.TensorProto.DataType) of boundary tensors the model declares no value info
   * for (an intermediate tensor usually has none): a stage's inputs and outputs must be typed.
   */
  types?: Record<string, number>;
  /**
   * Inputs the stage may do without: dropped from its interface when its outputs do not depend on
   * them (a later stage of a model with learned positions never reads position_ids).
   */
  optional?: readonly string[];
  /**
   * Tensors the stage does not take but whose shape it reads (an exported model computes its causal
   * mask from Shape(input_ids) and Shape(past_key_values.0.key)), each with one of its inputs of the
   * same shape to read it from instead. Only Shape may read them: any other use is refused.
   */
  shapeFrom?: Record<string, string>;
  /** Tensors renamed in the stage (a boundary tensor to the name the stage interface uses). */
  rename?: Record<string, string>;
}

/** Why a cut cannot be a stage, in words. */
export class StageCutError extends Error {}

/** The model's declared value infos by tensor name: inputs, outputs and intermediate value_info. */
function valueInfos(model: Model): Map<string, ValueInfo> {
  const g = model.graph!;
  const infos = new Map<string, ValueInfo>();
  for (const v of [...(g.valueInfo ?? []), ...(g.input ?? []), ...(g.output ?? [])]) infos.set(v.name!, v as ValueInfo);
  return infos;
}

/** A tensor's value info for the stage's interface: the model's, else one typed from `types` (shape unknown). */
function boundary(name: string, infos: Map<string, ValueInfo>, types: Record<string, number> | undefined, side: 'input' | 'output'): ValueInfo {
  const known = infos.get(name);
  if (known?.type?.tensorType?.elemType) return onnx.ValueInfoProto.create({ name, type: known.type });
  const elemType = types?.[name];
  if (elemType === undefined) throw new StageCutError(`the stage's ${side} ${name} has no declared type in the model: give it in types`);
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType } } });
}

/** The stage of `model` (ONNX bytes) that computes `cut.outputs` from `cut.inputs`, as ONNX bytes. */
export function extractStage(modelBytes: Uint8Array, cut: StageCut): Uint8Array {
  const model = onnx.ModelProto.decode(modelBytes) as Model;
  const g = model.graph;
  if (!g) throw new StageCutError('the model has no graph');
  const nodes = g.node ?? [];
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => o && producer.set(o, i)));
  const initializers = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  const stageInputs = new Set(cut.inputs);
  const shapeFrom = cut.shapeFrom ?? {};
  const substituted = new Set<string>();
  if (cut.outputs.length === 0) throw new StageCutError('a stage computes at least one tensor');

  // Walk back from the outputs to the inputs: every node on the way, every initializer it reads.
  const keep = new Set<number>();
  const used = new Set<string>();
  const reached = new Set<string>();
  const pending = [...cut.outputs];
  while (pending.length > 0) {
    const t = pending.pop()!;
    if (reached.has(t) || t === '') continue;
    reached.add(t);
    if (stageInputs.has(t)) continue;
    if (initializers.has(t)) {
      used.add(t);
      continue;
    }
    if (Object.hasOwn(shapeFrom, t) && !producer.has(t)) {
      substituted.add(t);
      continue;
    }
    const i = producer.get(t);
    if (i === undefined) throw new StageCutError(`the stage needs ${t}, which is neither one of its inputs nor computed from them`);
    if (keep.has(i)) continue;
    keep.add(i);
    pending.push(...(nodes[i]!.input ?? []));
  }
  // A tensor the stage does not take is read for its shape only, from the input of the same shape.
  const kept = nodes.flatMap((n, i) => {
    if (!keep.has(i)) return [];
    const reads = (n.input ?? []).filter((t) => substituted.has(t));
    if (reads.length === 0) return [n];
    if (n.opType !== 'Shape') throw new StageCutError(`the stage needs the values of ${reads.join(', ')} (node ${n.name || n.opType} reads them), which it does not take`);
    const source = shapeFrom[reads[0]!]!;
    reached.add(source);
    return [onnx.NodeProto.create({ ...n, input: [source] })];
  });
  const optional = new Set(cut.optional ?? []);
  const unused = cut.inputs.filter((t) => !reached.has(t) && !optional.has(t));
  if (unused.length > 0) throw new StageCutError(`the stage's outputs do not depend on its inputs ${unused.join(', ')}`);
  const inputs = cut.inputs.filter((t) => reached.has(t));
  const rename = cut.rename ?? {};
  const as = (t: string) => (Object.hasOwn(rename, t) ? rename[t]! : t);
  const renamed = (n: (typeof nodes)[number]) => (Object.keys(rename).length === 0 ? n : onnx.NodeProto.create({ ...n, input: (n.input ?? []).map(as), output: (n.output ?? []).map(as) }));
  const typed = (v: ValueInfo) => (as(v.name!) === v.name ? v : onnx.ValueInfoProto.create({ name: as(v.name!), type: v.type }));

  const infos = valueInfos(model);
  const stage = onnx.ModelProto.create({
    irVersion: model.irVersion,
    producerName: 'dougai-split',
    producerVersion: '1',
    opsetImport: model.opsetImport,
    graph: {
      name: cut.name ?? `${g.name ?? 'model'}:${cut.outputs.join(',')}`,
      // The model's order, which is topological: a stage's nodes stay in it.
      node: kept.map(renamed),
      initializer: (g.initializer ?? []).filter((t) => used.has(t.name!)),
      input: inputs.map((t) => typed(boundary(t, infos, cut.types, 'input'))),
      output: cut.outputs.map((t) => typed(boundary(t, infos, cut.types, 'output'))),
    },
  });
  return new Uint8Array(onnx.ModelProto.encode(stage).finish());
}

/** One stage of a decoder: its layers `from` to `to` (inclusive), as split.ts cuts it. */
export interface DecoderStage {
  from: number;
  to: number;
  model: Uint8Array;
}

/** The layer a node belongs to, by the module path exporters give its name (`/model/layers.3/mlp/Mul`, `/transformer/h.3/…`); null: none. */
export function layerOfNode(name: string | null | undefined): number | null {
  const m = /(?:^|[/.])(?:layers|layer|h|blocks|block)[./](\d+)(?:[/.]|$)/.exec(name ?? '');
  return m ? Number(m[1]) : null;
}

/**
 * The hidden state after each layer but the last, by layer: the tensor `hidden.N` where the model
 * names it so (decoder.ts's models), else found in the graph. An exported model's nodes carry their
 * module path, so each belongs to a layer or to none (before the layers: the embedding, the causal
 * mask, rotary cos/sin; after them: the final norm, the head). The hidden state after layer N is the
 * one tensor a node of layer N gives to a node after it (of a later layer, or of none) that is
 * computed from the token ids' values (not only from their shape, as a mask's size is). Anything
 * else a later layer reads from before it (the mask, cos/sin) is computed again in its stage.
 */
export function hiddenStates(modelBytes: Uint8Array, layers: number): string[] {
  const g = (onnx.ModelProto.decode(modelBytes) as Model).graph;
  if (!g) throw new StageCutError('the model has no graph');
  const nodes = g.node ?? [];
  const named = Array.from({ length: layers - 1 }, (_, l) => `hidden.${l}`);
  const produced = new Set(nodes.flatMap((n) => n.output ?? []));
  if (named.every((t) => produced.has(t))) return named;
  // Tensors computed from the token ids' values: downstream of input_ids through anything but Shape.
  const fromTokens = new Set<string>(['input_ids']);
  for (const n of nodes) if (n.opType !== 'Shape' && (n.input ?? []).some((t) => fromTokens.has(t))) for (const o of n.output ?? []) fromTokens.add(o);
  const layerOfTensor = new Map<string, number | null>();
  for (const n of nodes) for (const o of n.output ?? []) layerOfTensor.set(o, layerOfNode(n.name));
  const candidates = Array.from({ length: layers - 1 }, () => new Set<string>());
  for (const n of nodes) {
    const reader = layerOfNode(n.name);
    for (const t of n.input ?? []) {
      const from = layerOfTensor.get(t);
      if (from === undefined || from === null || from >= layers - 1 || !fromTokens.has(t)) continue;
      if (reader === null || reader > from) candidates[from]!.add(t);
    }
  }
  return candidates.map((found, l) => {
    if (found.size === 1) return [...found][0]!;
    const why = found.size === 0 ? 'no tensor of layer ' + l + ' is read after it (are the nodes named by module path, as exporters name them: /model/layers.' + l + '/…?)' : `layer ${l} gives several tensors to later ones: ${[...found].slice(0, 4).join(', ')}`;
    throw new StageCutError(`cannot find the hidden state after layer ${l}: ${why}`);
  });
}

/**
 * A decoder in the KV-cache layout (Hugging Face Optimum's names) cut by layer range: the first
 * stage takes `input_ids`, the last gives `logits`, each takes the hidden state before its first
 * layer (but the first) and gives the one after its last (but the last), named `hidden.N` in the
 * stage whatever the model calls it (hiddenStates), with its own layers' past and present. Every
 * stage takes attention_mask and position_ids where it reads them; a later stage reads the shape of
 * input_ids and of other layers' caches (for the mask's size) from position_ids and its own cache.
 * `ranges` are consecutive [from, to] pairs covering layers 0 to layers − 1.
 */
export function splitDecoder(model: Uint8Array, layers: number, ranges: readonly (readonly [number, number])[]): DecoderStage[] {
  let next = 0;
  for (const [from, to] of ranges) {
    if (from !== next || to < from) throw new StageCutError(`layer ranges must be consecutive from 0: ${JSON.stringify(ranges)}`);
    next = to + 1;
  }
  if (next !== layers) throw new StageCutError(`layer ranges must cover layers 0 to ${layers - 1}: ${JSON.stringify(ranges)}`);
  const hidden = ranges.length > 1 ? hiddenStates(model, layers) : [];
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  return ranges.map(([from, to], i) => {
    const own = Array.from({ length: to - from + 1 }, (_, k) => from + k);
    const first = i === 0;
    const last = i === ranges.length - 1;
    const before = first ? null : hidden[from - 1]!;
    const after = last ? null : hidden[to]!;
    const inputs = [before ?? 'input_ids', 'attention_mask', 'position_ids', ...own.flatMap((l) => [`past_key_values.${l}.key`, `past_key_values.${l}.value`])];
    const outputs = [after ?? 'logits', ...own.flatMap((l) => [`present.${l}.key`, `present.${l}.value`])];
    const shapeFrom: Record<string, string> = {};
    if (!first) shapeFrom.input_ids = 'position_ids';
    for (let l = 0; l < layers; l++) if (l < from || l > to) for (const kv of ['key', 'value']) shapeFrom[`past_key_values.${l}.${kv}`] = `past_key_values.${from}.${kv}`;
    const rename: Record<string, string> = {};
    if (before) rename[before] = `hidden.${from - 1}`;
    if (after) rename[after] = `hidden.${to}`;
    const types = Object.fromEntries([before, after].filter((t): t is string => t !== null).map((t) => [t, FLOAT]));
    return { from, to, model: extractStage(model, { inputs, outputs, name: `decoder layers ${from}-${to}`, optional: ['attention_mask', 'position_ids'], shapeFrom, rename, types }) };
  });
}

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
    const i = producer.get(t);
    if (i === undefined) throw new StageCutError(`the stage needs ${t}, which is neither one of its inputs nor computed from them`);
    if (keep.has(i)) continue;
    keep.add(i);
    pending.push(...(nodes[i]!.input ?? []));
  }
  const unused = cut.inputs.filter((t) => !reached.has(t));
  if (unused.length > 0) throw new StageCutError(`the stage's outputs do not depend on its inputs ${unused.join(', ')}`);

  const infos = valueInfos(model);
  const stage = onnx.ModelProto.create({
    irVersion: model.irVersion,
    producerName: 'dougai-split',
    producerVersion: '1',
    opsetImport: model.opsetImport,
    graph: {
      name: cut.name ?? `${g.name ?? 'model'}:${cut.outputs.join(',')}`,
      // The model's order, which is topological: a stage's nodes stay in it.
      node: nodes.filter((_, i) => keep.has(i)),
      initializer: (g.initializer ?? []).filter((t) => used.has(t.name!)),
      input: cut.inputs.map((t) => boundary(t, infos, cut.types, 'input')),
      output: cut.outputs.map((t) => boundary(t, infos, cut.types, 'output')),
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

/**
 * A decoder in the KV-cache layout (decoder.ts's names) cut by layer range: the first stage takes
 * `input_ids`, the last gives `logits`, each takes the hidden state before its first layer (but the
 * first) and gives the one after its last (but the last), with its own layers' past and present.
 * `ranges` are consecutive [from, to] pairs covering layers 0 to layers − 1.
 */
export function splitDecoder(model: Uint8Array, layers: number, ranges: readonly (readonly [number, number])[]): DecoderStage[] {
  let next = 0;
  for (const [from, to] of ranges) {
    if (from !== next || to < from) throw new StageCutError(`layer ranges must be consecutive from 0: ${JSON.stringify(ranges)}`);
    next = to + 1;
  }
  if (next !== layers) throw new StageCutError(`layer ranges must cover layers 0 to ${layers - 1}: ${JSON.stringify(ranges)}`);
  return ranges.map(([from, to], i) => {
    const own = Array.from({ length: to - from + 1 }, (_, k) => from + k);
    const first = i === 0;
    const last = i === ranges.length - 1;
    const inputs = [first ? 'input_ids' : `hidden.${from - 1}`, 'attention_mask', 'position_ids', ...own.flatMap((l) => [`past_key_values.${l}.key`, `past_key_values.${l}.value`])];
    const outputs = [last ? 'logits' : `hidden.${to}`, ...own.flatMap((l) => [`present.${l}.key`, `present.${l}.value`])];
    return { from, to, model: extractStage(model, { inputs, outputs, name: `decoder layers ${from}-${to}` }) };
  });
}

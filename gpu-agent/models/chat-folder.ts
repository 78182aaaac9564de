/**
 * A chat model folder on disk, as exporters write it: `config.json` (Hugging Face's keys:
 * vocab_size, hidden_size, num_attention_heads, num_hidden_layers, max_position_embeddings,
 * eos_token_id), `tokenizer.json`, and `model.onnx` (or `onnx/model.onnx`) in the KV-cache layout.
 * Opened for a number of stages, it is cut into that many even layer ranges (split.ts) and
 * described by its manifest (contracts/chat.ts), which every agent holding a stage of the same
 * folder and stage count computes alike.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { manifestProblem, manifestSha256, type ChatManifest } from '../../durable-objects/contracts/chat.ts';
import { Tokenizer, type TokenizerJson } from '../../durable-objects/contracts/tokenizer.ts';
import { modelSha256 } from './build.ts';
import { splitDecoder, StageCutError } from './split.ts';

export interface ChatFolder {
  manifest: ChatManifest;
  manifestSha256: string;
  /** tokenizer.json as written. */
  tokenizer: string;
  /** Each stage's ONNX bytes, by index. */
  stages: Uint8Array[];
}

export class ChatFolderError extends Error {}

/** `count` consecutive layer ranges as even as they go (the first ones one longer when it does not divide). */
export function evenRanges(layers: number, count: number): [number, number][] {
  if (!Number.isInteger(count) || count < 1 || count > layers) throw new ChatFolderError(`a model of ${layers} layers can be cut into 1 to ${layers} stages, not ${count}`);
  const out: [number, number][] = [];
  let from = 0;
  for (let i = 0; i < count; i++) {
    const size = Math.floor(layers / count) + (i < layers % count ? 1 : 0);
    out.push([from, from + size - 1]);
    from += size;
  }
  return out;
}

function read(dir: string, name: string): Buffer {
  const path = join(dir, name);
  if (!existsSync(path)) throw new ChatFolderError(`${dir} has no ${name}`);
  return readFileSync(path);
}

export async function openChatFolder(dir: string, stageCount: number, name?: string): Promise<ChatFolder> {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(read(dir, 'config.json').toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw e instanceof ChatFolderError ? e : new ChatFolderError(`${dir}/config.json is not JSON`);
  }
  const num = (key: string): number => {
    const v = config[key];
    if (!Number.isSafeInteger(v) || (v as number) < 1) throw new ChatFolderError(`${dir}/config.json: ${key} must be a positive integer`);
    return v as number;
  };
  const tokenizer = read(dir, 'tokenizer.json').toString('utf8');
  let tokenizerJson: TokenizerJson;
  try {
    tokenizerJson = JSON.parse(tokenizer) as TokenizerJson;
    new Tokenizer(tokenizerJson);
  } catch (e) {
    throw new ChatFolderError(`${dir}/tokenizer.json cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  }
  const model = existsSync(join(dir, 'model.onnx')) ? read(dir, 'model.onnx') : read(dir, 'onnx/model.onnx');
  const layers = num('num_hidden_layers');
  const eos = config.eos_token_id;
  const endTokens = (Array.isArray(eos) ? eos : eos === undefined || eos === null ? [] : [eos]).filter((t): t is number => Number.isSafeInteger(t));
  const bytes = new Uint8Array(model.buffer, model.byteOffset, model.byteLength);
  const heads = num('num_attention_heads');
  const embed = num('hidden_size');
  // Caches are [batch, kvHeads, positions, hidden_size / heads] at every layer (StageRunner's empty ones too).
  const kvHeads = config.num_key_value_heads === undefined || config.num_key_value_heads === null ? heads : num('num_key_value_heads');
  if (config.head_dim !== undefined && config.head_dim !== embed / heads) throw new ChatFolderError(`${dir}: head_dim ${String(config.head_dim)} is not hidden_size / num_attention_heads (${embed / heads}), which is not served yet`);
  const ranges = evenRanges(layers, stageCount);
  let stages: Uint8Array[];
  try {
    stages = stageCount === 1 ? [bytes] : splitDecoder(bytes, layers, ranges).map((s) => s.model);
  } catch (e) {
    throw e instanceof StageCutError ? new ChatFolderError(`${dir}: the model cannot be cut into ${stageCount} stages: ${e.message}`) : e;
  }
  const manifest: ChatManifest = {
    name: name ?? (typeof config.name_or_path === 'string' ? config.name_or_path : typeof config._name_or_path === 'string' && config._name_or_path ? config._name_or_path : 'model'),
    vocab: num('vocab_size'),
    embed,
    heads,
    ...(kvHeads !== heads ? { kvHeads } : {}),
    layers,
    maxPositions: num('max_position_embeddings'),
    endTokens,
    tokenizerSha256: modelSha256(new TextEncoder().encode(tokenizer)),
    stages: ranges.map(([from, to], i) => ({ from, to, sha256: modelSha256(stages[i]!) })),
  };
  const problem = manifestProblem(manifest);
  if (problem) throw new ChatFolderError(`${dir}/config.json: ${problem}`);
  return { manifest, manifestSha256: await manifestSha256(manifest), tokenizer, stages };
}

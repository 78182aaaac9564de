/**
 * A byte-level BPE tokenizer read from a Hugging Face `tokenizer.json` (the format GPT-2, Llama 3,
 * Qwen and SmolLM ship): text is split by the GPT-2 pattern, each piece's UTF-8 bytes mapped to
 * printable characters, then merged by rank. Other tokenizer families (SentencePiece's Metaspace
 * with byte fallback) are refused in words rather than tokenized wrongly. `trainByteLevelBpe`
 * writes such a file from a corpus: the project's own model was tokenized with it.
 *
 * Pure code: the Worker tokenizes prompts and detokenizes streamed tokens with it, the agent and
 * the model scripts import the same one.
 */

import { CHAT_LIMITS } from './chat.ts';

const SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's map from bytes to printable code points (so every byte is a visible character). */
function byteTable(): { toChar: string[]; toByte: Map<string, number> } {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const toChar: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) toChar[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++);
  return { toChar, toByte: new Map(toChar.map((c, b) => [c, b])) };
}
const BYTES = byteTable();
const encoder = new TextEncoder();

export class TokenizerError extends Error {}

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

/** The parts of `tokenizer.json` this reader uses. */
export interface TokenizerJson {
  added_tokens?: AddedToken[];
  pre_tokenizer?: { type: string; pretokenizers?: { type: string }[] } | null;
  decoder?: { type: string } | null;
  model: { type: string; vocab: Record<string, number>; merges: (string | [string, string])[]; byte_fallback?: boolean };
}

export class Tokenizer {
  readonly vocabSize: number;
  private readonly vocab: Map<string, number>;
  private readonly pieces: string[];
  private readonly ranks = new Map<string, number>();
  private readonly special: AddedToken[];
  private readonly specialPattern: RegExp | null;
  private readonly cache = new Map<string, number[]>();

  constructor(json: TokenizerJson) {
    const pre = json.pre_tokenizer;
    const byteLevel = pre?.type === 'ByteLevel' || (pre?.type === 'Sequence' && pre.pretokenizers?.some((p) => p.type === 'ByteLevel'));
    if (json.model?.type !== 'BPE' || !byteLevel) {
      throw new TokenizerError(`only byte-level BPE tokenizers are read (this one is ${json.model?.type ?? 'unknown'} with ${pre?.type ?? 'no'} pre-tokenizer)`);
    }
    this.vocab = new Map(Object.entries(json.model.vocab));
    this.special = json.added_tokens ?? [];
    for (const t of this.special) this.vocab.set(t.content, t.id);
    // Ids are checked before anything is sized by them: a tokenizer an agent sends names ids of its choosing.
    let largest = -1;
    for (const [piece, id] of this.vocab) {
      if (!Number.isSafeInteger(id) || id < 0 || id >= CHAT_LIMITS.vocab) {
        throw new TokenizerError(`token ${JSON.stringify(piece).slice(0, 40)} has id ${String(id).slice(0, 40)}: ids are integers from 0 to ${CHAT_LIMITS.vocab - 1}`);
      }
      if (id > largest) largest = id;
    }
    this.vocabSize = largest + 1;
    this.pieces = new Array(this.vocabSize).fill('');
    for (const [piece, id] of this.vocab) this.pieces[id] = piece;
    json.model.merges.forEach((m, rank) => this.ranks.set(Array.isArray(m) ? `${m[0]} ${m[1]}` : m, rank));
    this.specialPattern = this.special.length
      ? new RegExp(`(${this.special.map((t) => t.content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`)
      : null;
  }

  /** The id of an added (special) token, such as `<|endoftext|>`. */
  tokenId(content: string): number | undefined {
    return this.vocab.get(content);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    const parts = this.specialPattern ? text.split(this.specialPattern) : [text];
    parts.forEach((part, i) => {
      if (i % 2 === 1) out.push(this.vocab.get(part)!);
      else for (const word of part.match(SPLIT) ?? []) out.push(...this.word(word));
    });
    return out;
  }

  /** The UTF-8 bytes of these tokens (special tokens as their text). Streaming decodes bytes so a character split across tokens is not garbled. */
  bytes(ids: readonly number[]): Uint8Array {
    const out: number[] = [];
    for (const id of ids) {
      const piece = this.pieces[id];
      if (piece === undefined) throw new TokenizerError(`token ${id} is outside the vocabulary of ${this.vocabSize}`);
      if (this.special.some((t) => t.id === id)) out.push(...encoder.encode(piece));
      else for (const ch of piece) out.push(BYTES.toByte.get(ch) ?? 0x3f);
    }
    return Uint8Array.from(out);
  }

  decode(ids: readonly number[]): string {
    return new TextDecoder().decode(this.bytes(ids));
  }

  private word(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let parts = Array.from(encoder.encode(word), (b) => BYTES.toChar[b]!);
    while (parts.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < parts.length - 1; i++) {
        const rank = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), parts[best]! + parts[best + 1]!, ...parts.slice(best + 2)];
    }
    const ids = parts.map((p) => {
      const id = this.vocab.get(p);
      if (id === undefined) throw new TokenizerError(`the vocabulary lacks the piece ${JSON.stringify(p)}`);
      return id;
    });
    if (this.cache.size < 50_000) this.cache.set(word, ids);
    return ids;
  }
}

/**
 * Trains a byte-level BPE on `text`: the 256 bytes, then the most frequent adjacent pair merged
 * until `vocabSize` (ties broken by the pair's text, so the result is deterministic), and the
 * `special` tokens after them.
 */
export function trainByteLevelBpe(text: string, vocabSize: number, special: readonly string[] = []): TokenizerJson {
  const words = new Map<string, number>();
  for (const w of text.match(SPLIT) ?? []) words.set(w, (words.get(w) ?? 0) + 1);
  const seqs = [...words].map(([w, count]) => ({ parts: Array.from(encoder.encode(w), (b) => BYTES.toChar[b]!), count }));
  const vocab: Record<string, number> = {};
  BYTES.toChar.forEach((c, b) => (vocab[c] = b));
  const merges: string[] = [];
  let next = 256;
  while (next < vocabSize - special.length) {
    const pairs = new Map<string, number>();
    for (const { parts, count } of seqs) {
      for (let i = 0; i < parts.length - 1; i++) {
        const key = `${parts[i]} ${parts[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + count);
      }
    }
    let best = '';
    let bestCount = 0;
    for (const [key, count] of pairs) if (count > bestCount || (count === bestCount && key < best)) [best, bestCount] = [key, count];
    if (bestCount < 2) break;
    const [a, b] = best.split(' ') as [string, string];
    merges.push(best);
    vocab[a + b] = next++;
    for (const s of seqs) {
      const p = s.parts;
      for (let i = 0; i < p.length - 1; i++) if (p[i] === a && p[i + 1] === b) p.splice(i, 2, a + b);
    }
  }
  return {
    added_tokens: special.map((content, i) => ({ id: next + i, content, special: true })),
    pre_tokenizer: { type: 'ByteLevel' },
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab, merges },
  };
}

/** The whole `tokenizer.json` document (with the fields Hugging Face's reader expects) for a trained tokenizer. */
export function tokenizerDocument(t: TokenizerJson): unknown {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: (t.added_tokens ?? []).map((a) => ({ id: a.id, content: a.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab: t.model.vocab, merges: t.model.merges },
  };
}

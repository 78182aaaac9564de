/**
 * Choosing the next token from a model's logits, reproducibly: greedy at temperature 0, otherwise
 * a draw from the softmax at that temperature, cut to the smallest set of tokens whose probability
 * reaches `topP`, with a random number that depends only on the request's seed and the token's
 * index. Two routes given the same request therefore choose the same tokens, which is what lets a
 * re-run on a disjoint route verify a conversation token for token.
 */

export interface Sampling {
  /** 0: greedy. OpenAI's range is 0 to 2. */
  temperature: number;
  /** Nucleus cut, in (0, 1]. */
  topP: number;
  /** The request's seed (an unsigned 32-bit integer). */
  seed: number;
}

export const GREEDY: Sampling = { temperature: 0, topP: 1, seed: 0 };

/** A number in [0, 1) from (seed, index) alone: splitmix32 of the two mixed. */
export function drawFor(seed: number, index: number): number {
  let z = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97) >>> 0;
  return ((z ^ (z >>> 15)) >>> 0) / 4294967296;
}

/** The token at `index` of the completion, from the logits of the last position. Ties go to the lowest id. */
export function sampleToken(logits: ArrayLike<number>, s: Sampling, index: number): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  if (s.temperature <= 0) return best;
  const max = logits[best]!;
  const order = Array.from({ length: logits.length }, (_, i) => i);
  const weight = order.map((i) => Math.exp((logits[i]! - max) / s.temperature));
  order.sort((a, b) => weight[b]! - weight[a]! || a - b);
  const total = weight.reduce((a, b) => a + b, 0);
  // The nucleus: the most likely tokens until their share reaches topP (at least one).
  let kept = 0;
  let mass = 0;
  while (kept < order.length && (kept === 0 || mass / total < s.topP)) mass += weight[order[kept++]!]!;
  let r = drawFor(s.seed, index) * mass;
  for (let k = 0; k < kept; k++) {
    r -= weight[order[k]!]!;
    if (r < 0) return order[k]!;
  }
  return order[kept - 1]!;
}

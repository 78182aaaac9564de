/** The shipped chat model's shape and training run (scripts/chat-model/README.md). */
import { fileURLToPath } from 'node:url';

export const CHAT_MODEL = {
  name: 'doug-austen',
  vocab: 1024,
  embed: 128,
  heads: 4,
  layers: 6,
  ffn: 512,
  maxPositions: 256,
  endOfText: '<|endoftext|>',
  training: { seed: 20261206, steps: 1500, batch: 32, sequence: 128, learningRate: 0.003 },
} as const;

export const EXAMPLE_DIR = fileURLToPath(new URL('../../examples/chat/', import.meta.url));
export const BUILD_DIR = fileURLToPath(new URL('../../build/chat-model/', import.meta.url));

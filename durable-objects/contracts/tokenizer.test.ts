import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tokenizer, TokenizerError, trainByteLevelBpe, type TokenizerJson } from './tokenizer.ts';

describe('the byte-level BPE tokenizer', () => {
  const shipped = new Tokenizer(JSON.parse(readFileSync('examples/chat/tokenizer.json', 'utf8')) as TokenizerJson);

  it('round-trips any text, including characters outside the corpus', () => {
    for (const text of ['Emma Woodhouse, handsome, clever, and rich', 'naïve café — 3.14 €, 日本語 🙂', '  spaces\n\nand\ttabs  ', '']) {
      expect(shipped.decode(shipped.encode(text))).toBe(text);
    }
  });

  it('merges common words into few tokens, by rank', () => {
    const ids = shipped.encode(' the');
    expect(ids).toHaveLength(1);
    expect(shipped.encode('Emma Woodhouse, handsome, clever, and rich').length).toBeLessThan(20);
  });

  it('keeps special tokens whole', () => {
    const eot = shipped.tokenId('<|endoftext|>')!;
    expect(shipped.encode('end.<|endoftext|>Next')).toContain(eot);
    expect(shipped.decode([eot])).toBe('<|endoftext|>');
  });

  it('trains deterministically: the most frequent pair first', () => {
    const a = trainByteLevelBpe('aaab aaab aaab', 260);
    expect(a.model.merges[0]).toBe('a a');
    expect(trainByteLevelBpe('aaab aaab aaab', 260)).toEqual(a);
  });

  it('refuses tokenizers of another family, and tokens outside its vocabulary, in words', () => {
    const other = { pre_tokenizer: { type: 'Metaspace' }, model: { type: 'BPE', vocab: {}, merges: [] } } as TokenizerJson;
    expect(() => new Tokenizer(other)).toThrow(/only byte-level BPE/);
    expect(() => shipped.decode([shipped.vocabSize + 5])).toThrow(TokenizerError);
  });
});

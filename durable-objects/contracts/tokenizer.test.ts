import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tokenizer, TokenizerError, trainByteLevelBpe, type TokenizerJson } from './tokenizer.ts';
import { CHAT_LIMITS } from './chat.ts';

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

  it('refuses token ids that are not integers below the vocabulary limit before sizing anything by them', () => {
    const byteLevel = (vocab: Record<string, unknown>, added: { id: unknown; content: string }[] = []) =>
      ({ pre_tokenizer: { type: 'ByteLevel' }, model: { type: 'BPE', vocab, merges: [] }, added_tokens: added }) as unknown as TokenizerJson;
    // An agent's manifest carries its tokenizer: one id of 4e9 used to make the market object allocate 4e9 pieces.
    for (const id of [2 ** 32, CHAT_LIMITS.vocab, -1, 1.5, '7', null]) {
      expect(() => new Tokenizer(byteLevel({ a: 0, b: id })), String(id)).toThrow(TokenizerError);
      expect(() => new Tokenizer(byteLevel({ a: 0 }, [{ id, content: '<|x|>' }])), `added ${String(id)}`).toThrow(TokenizerError);
    }
    expect(new Tokenizer(byteLevel({ a: 0, b: CHAT_LIMITS.vocab - 1 })).vocabSize).toBe(CHAT_LIMITS.vocab);
  });

  it('refuses tokenizers of another family, and tokens outside its vocabulary, in words', () => {
    const other = { pre_tokenizer: { type: 'Metaspace' }, model: { type: 'BPE', vocab: {}, merges: [] } } as TokenizerJson;
    expect(() => new Tokenizer(other)).toThrow(/only byte-level BPE/);
    expect(() => shipped.decode([shipped.vocabSize + 5])).toThrow(TokenizerError);
  });
});

import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer, type TokenizerJson } from '../../durable-objects/contracts/tokenizer.ts';
import { generate, type StageLink } from '../../durable-objects/domain/chat/generation.ts';
import { GREEDY } from '../../durable-objects/domain/chat/sampling.ts';
import { StageRunner, stageShape } from '../src/exec/stage-runner.ts';
import { ChatFolderError, evenRanges, openChatFolder } from './chat-folder.ts';

async function complete(dir: string, stages: number, prompt: string, maxTokens: number): Promise<string> {
  const folder = await openChatFolder(dir, stages);
  const m = folder.manifest;
  const runners = await Promise.all(m.stages.map((s, i) => StageRunner.load(folder.stages[i]!, stageShape(m, i))));
  const tokenizer = new Tokenizer(JSON.parse(folder.tokenizer) as TokenizerJson);
  const links: StageLink[] = runners.map((r, i) => ({ holder: `s${i}`, step: (input) => r.step(input), close: (s) => r.close(s) }));
  const ids: number[] = [];
  for await (const t of generate(links, { session: 'test', prompt: tokenizer.encode(prompt), maxTokens, sampling: GREEDY }, { replace: async () => null })) ids.push(t);
  for (const r of runners) await r.release();
  return tokenizer.decode(ids);
}

describe('the shipped chat model (examples/chat)', () => {
  it('continues a prompt with words of its corpus, the same through 1, 2 or 3 stages', async () => {
    const prompt = 'Emma Woodhouse, handsome, clever, and rich,\n\n';
    const text = await complete('examples/chat', 1, prompt, 24);
    // Greedy decoding on the pinned CPU runtime is deterministic: these are its words.
    expect(text).toMatch(/^"I am sure you will not be able to be married\./);
    const words = text.split(/\s+/).filter(Boolean);
    expect(words.length).toBeGreaterThan(8);
    expect(await complete('examples/chat', 2, prompt, 24)).toBe(text);
    expect(await complete('examples/chat', 3, prompt, 24)).toBe(text);
  });

  it('is described by one manifest per cut, the same for every agent that opens it', async () => {
    const [a, b, c] = await Promise.all([openChatFolder('examples/chat', 3), openChatFolder('examples/chat', 3), openChatFolder('examples/chat', 1)]);
    expect(a.manifestSha256).toBe(b.manifestSha256);
    expect(a.manifestSha256).not.toBe(c.manifestSha256);
    expect(a.manifest).toMatchObject({ name: 'doug-austen', vocab: 1024, embed: 128, heads: 4, layers: 6, maxPositions: 256, endTokens: [1023] });
    expect(a.manifest.stages.map((s) => [s.from, s.to])).toEqual([[0, 1], [2, 3], [4, 5]]);
  });

  it('serves a folder PyTorch’s exporter wrote (Hugging Face’s Llama module names, Optimum’s layout, grouped-query attention): the same tokens through 1, 2 or 3 stages', async () => {
    const dir = 'test/fixtures/llama-export';
    const one = await complete(dir, 1, 'It is a truth', 12);
    expect(one.length).toBeGreaterThan(0);
    expect(await complete(dir, 2, 'It is a truth', 12)).toBe(one);
    expect(await complete(dir, 3, 'It is a truth', 12)).toBe(one);
    expect((await openChatFolder(dir, 3)).manifest).toMatchObject({ name: 'llama-export-fixture', layers: 3, heads: 4, kvHeads: 2, embed: 32 });
    // A model whose cache has all its heads names none: its manifest (and so its hash) is as before kvHeads existed.
    expect((await openChatFolder('examples/chat', 1)).manifest).not.toHaveProperty('kvHeads');
  });

  it('cuts layers evenly, and refuses cuts and folders it cannot serve in words', async () => {
    expect(evenRanges(7, 3)).toEqual([[0, 2], [3, 4], [5, 6]]);
    expect(() => evenRanges(6, 7)).toThrow(/1 to 6 stages/);
    await expect(openChatFolder('examples', 1)).rejects.toThrow(ChatFolderError);
    // Cached heads that do not divide the query heads.
    const odd = mkdtempSync(join(tmpdir(), 'doug-kv-'));
    for (const f of ['model.onnx', 'tokenizer.json']) copyFileSync(join('test/fixtures/llama-export', f), join(odd, f));
    writeFileSync(join(odd, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync('test/fixtures/llama-export/config.json', 'utf8')), num_key_value_heads: 3 }));
    await expect(openChatFolder(odd, 1)).rejects.toThrow(/kvHeads must be fewer than heads and divide them/);
    rmSync(odd, { recursive: true });
  });
});

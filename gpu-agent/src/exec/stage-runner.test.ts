import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDecoderModel, type DecoderOptions } from '../../models/decoder.ts';
import { splitDecoder } from '../../models/split.ts';
import { generate, RouteFailedError, type GenerationRequest, type StageLink } from '../../../durable-objects/domain/chat/generation.ts';
import { GREEDY } from '../../../durable-objects/domain/chat/sampling.ts';
import { StageRunner, StageStepError, type StageShape } from './stage-runner.ts';

const TINY: DecoderOptions = { vocab: 96, embed: 32, heads: 4, layers: 3, ffn: 64, maxPositions: 128, seed: 11 };
const shape = (from: number, to: number): StageShape => ({ from, to, layers: TINY.layers, kvHeads: TINY.heads, headDim: TINY.embed / TINY.heads, embed: TINY.embed, vocab: TINY.vocab });

/** An in-process link that can be killed: every step after `dieAt` (a step number) fails, as a dead socket would. */
function link(runner: StageRunner, holder: string, dieAt = Infinity): StageLink & { calls: number } {
  const l = {
    holder,
    calls: 0,
    async step(input: Parameters<StageRunner['step']>[0]) {
      l.calls++;
      if (input.step >= dieAt) throw new Error(`${holder} is gone`);
      return runner.step(input);
    },
    close: (session: string) => runner.close(session),
  };
  return l;
}

async function collect(links: StageLink[], request: GenerationRequest, replacements: StageLink[][] = []): Promise<number[]> {
  const out: number[] = [];
  for await (const t of generate(links, request, { replace: async (i) => replacements[i]?.shift() ?? null })) out.push(t);
  return out;
}

describe('a decoder served as a route of stages', () => {
  const model = buildDecoderModel(TINY);
  const pieces = splitDecoder(model, TINY.layers, [[0, 0], [1, 1], [2, 2]]);
  let whole: StageRunner;
  const load = () => Promise.all(pieces.map((p) => StageRunner.load(p.model, shape(p.from, p.to))));
  let stages: StageRunner[];
  let spares: StageRunner[];
  beforeAll(async () => {
    whole = await StageRunner.load(model, shape(0, TINY.layers - 1));
    stages = await load();
    spares = await load();
  });
  afterAll(async () => {
    for (const r of [whole, ...stages, ...spares]) await r.release();
  });

  const request = (session: string, sampling = GREEDY): GenerationRequest => ({ session, prompt: [5, 17, 42, 8, 23, 61], maxTokens: 24, sampling });

  it('gives the tokens one runner of the whole model gives, greedy and sampled from a seed', async () => {
    for (const sampling of [GREEDY, { temperature: 0.9, topP: 0.95, seed: 1234 }]) {
      const alone = await collect([link(whole, 'whole')], request(`alone-${sampling.seed}`, sampling));
      const routed = await collect(stages.map((s, i) => link(s, `s${i}`)), request(`routed-${sampling.seed}`, sampling));
      expect(alone).toHaveLength(24);
      expect(routed).toEqual(alone);
    }
    // A different seed samples other tokens: the seed is what the draw depends on.
    const other = await collect([link(whole, 'whole')], request('other-seed', { temperature: 0.9, topP: 0.95, seed: 99 }));
    expect(other).not.toEqual(await collect([link(whole, 'whole')], request('seed-again', { temperature: 0.9, topP: 0.95, seed: 1234 })));
  });

  it('goes on, token for token, when any stage dies mid-stream and another holder replays the session', async () => {
    const want = await collect([link(whole, 'whole')], request('reference'));
    for (const dying of [0, 1, 2]) {
      for (const dieAt of [1, 9]) {
        const session = `kill-${dying}-${dieAt}`;
        const links = stages.map((s, i) => link(s, `s${i}`, i === dying ? dieAt : Infinity));
        const spare = link(spares[dying]!, `spare${dying}`);
        const replacements: StageLink[][] = [];
        replacements[dying] = [spare];
        expect(await collect(links, request(session), replacements), session).toEqual(want);
        // The spare took the dead stage's place and rebuilt the steps before the failure.
        expect(links[dying]).toBe(spare);
        expect(spare.calls).toBeGreaterThanOrEqual(24);
      }
    }
  });

  it('fails in words when no holder is left for a dead stage', async () => {
    const links = stages.map((s, i) => link(s, `s${i}`, i === 1 ? 3 : Infinity));
    await expect(collect(links, request('no-spare'))).rejects.toThrow(RouteFailedError);
    await expect(collect(stages.map((s, i) => link(s, `s${i}`, i === 1 ? 3 : Infinity)), request('no-spare-2'))).rejects.toThrow(/stage 1 failed and no other holder/);
  });

  it('answers a repeated step from its record, and refuses a step that skips ahead', async () => {
    const first = stages[0]!;
    const step0 = { session: 'repeat', step: 0, start: 0, tokens: [1, 2, 3] };
    const a = await first.step(step0);
    const b = await first.step({ ...step0, tokens: [9, 9, 9] });
    expect(b).toBe(a);
    expect(first.steps('repeat')).toBe(1);
    await expect(first.step({ session: 'repeat', step: 2, start: 4, tokens: [4] })).rejects.toThrow(StageStepError);
    await expect(first.step({ session: 'repeat', step: 1, start: 7, tokens: [4] })).rejects.toThrow(/starts at position 7, the cache holds 3/);
    await expect(stages[1]!.step({ session: 'repeat', step: 0, start: 0, hidden: new Float32Array(TINY.embed + 1) })).rejects.toThrow(/whole number of 32-wide rows/);
  });

  it('keeps each session’s cache apart: interleaved conversations give what each gives alone', async () => {
    const a = { ...request('solo-a'), prompt: [1, 2, 3] };
    const b = { ...request('solo-b'), prompt: [70, 71, 72, 73] };
    const wantA = await collect([link(whole, 'whole')], a);
    const wantB = await collect([link(whole, 'whole')], b);
    const [gotA, gotB] = await Promise.all([
      collect(stages.map((s, i) => link(s, `s${i}`)), { ...a, session: 'both-a' }),
      collect(stages.map((s, i) => link(s, `s${i}`)), { ...b, session: 'both-b' }),
    ]);
    expect(gotA).toEqual(wantA);
    expect(gotB).toEqual(wantB);
    expect(wantA).not.toEqual(wantB);
  });
});

import { describe, expect, it } from 'vitest';
import { chooseHolder, completionBudget, modelMatches, nextLatency, promptText, TextStream, CHAT_RULES } from './rules.ts';
import { drawFor, GREEDY, sampleToken } from './sampling.ts';
import { chatCharge, chatHold, chatPayouts, stageShares } from './pricing.ts';
import { atFault, chatSlashEvidence, checkedCompletion, firstDifference, sampledForCheck, type ChatFault } from './verification.ts';


describe('sampling', () => {
  it('is greedy at temperature 0, ties to the lowest id', () => {
    expect(sampleToken([0.1, 3, 3, -1], GREEDY, 0)).toBe(1);
    expect(sampleToken([5, 1, 2], { temperature: 0, topP: 0.1, seed: 9 }, 4)).toBe(0);
  });

  it('draws from (seed, index) alone, and follows the probabilities', () => {
    expect(drawFor(7, 3)).toBe(drawFor(7, 3));
    expect(drawFor(7, 3)).not.toBe(drawFor(7, 4));
    expect(drawFor(7, 3)).not.toBe(drawFor(8, 3));
    const logits = [Math.log(0.6), Math.log(0.3), Math.log(0.1)];
    const counts = [0, 0, 0];
    for (let i = 0; i < 20_000; i++) counts[sampleToken(logits, { temperature: 1, topP: 1, seed: 42 }, i)]!++;
    expect(counts[0]! / 20_000).toBeCloseTo(0.6, 1);
    expect(counts[2]! / 20_000).toBeCloseTo(0.1, 1);
  });

  it('cuts to the nucleus: with topP 0.5 only the most likely token of 0.6 is drawn', () => {
    const logits = [Math.log(0.3), Math.log(0.6), Math.log(0.1)];
    for (let i = 0; i < 500; i++) expect(sampleToken(logits, { temperature: 1, topP: 0.5, seed: 3 }, i)).toBe(1);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(sampleToken(logits, { temperature: 1, topP: 0.85, seed: 3 }, i));
    expect([...seen].sort()).toEqual([0, 1]);
  });
});

describe('routing', () => {
  const h = (socketId: string, agentKey: string, latencyMs?: number) => ({ socketId, agentKey, provider: agentKey, ...(latencyMs === undefined ? {} : { latencyMs }) });

  it('measures an unmeasured holder first, then takes the fastest; never an excluded socket', () => {
    expect(chooseHolder([h('a', 'A', 5), h('b', 'B')])!.socketId).toBe('b');
    expect(chooseHolder([h('a', 'A', 5), h('b', 'B', 2), h('c', 'C', 9)])!.socketId).toBe('b');
    expect(chooseHolder([h('a', 'A', 5), h('b', 'B', 2)], new Set(['b']))!.socketId).toBe('a');
    expect(chooseHolder([h('a', 'A', 5)], new Set(['a']))).toBeNull();
    expect(chooseHolder([h('x', 'B', 3), h('y', 'A', 3)])!.agentKey).toBe('A');
  });

  it('keeps a moving average of latency', () => {
    expect(nextLatency(undefined, 10)).toBe(10);
    expect(nextLatency(10, 20)).toBeCloseTo(10 + CHAT_RULES.latencyWeight * 10);
  });

  it('matches a model by name, or pinned to a manifest by 8 or more hex digits', () => {
    const sha = 'ab'.repeat(32);
    expect(modelMatches('m', 'm', sha)).toBe(true);
    expect(modelMatches('m@abababab', 'm', sha)).toBe(true);
    expect(modelMatches('m@abab', 'm', sha)).toBe(false);
    expect(modelMatches('m@cdcdcdcd', 'm', sha)).toBe(false);
    expect(modelMatches('n@abababab', 'm', sha)).toBe(false);
    expect(modelMatches('m2', 'm', sha)).toBe(false);
  });

  it('makes a prompt of the messages, a blank line apart', () => {
    expect(promptText([{ role: 'system', content: ' Be brief. ' }, { role: 'user', content: 'Hello' }])).toBe('Be brief.\n\nHello\n\n');
  });
});

describe('text streamed from tokens', () => {
  // A toy vocabulary: each token is some bytes.
  const pieces = ['Hel', 'lo', ' wor', 'ld', '\xe2', '\x82\xac', 'EN', 'D'].map((p) => Uint8Array.from(p, (c) => c.charCodeAt(0)));
  pieces[4] = Uint8Array.from([0xe2]);
  pieces[5] = Uint8Array.from([0x82, 0xac]);
  const bytesOf = (ids: readonly number[]) => Uint8Array.from(ids.flatMap((i) => [...pieces[i]!]));

  it('waits for the last byte of a character split across tokens', () => {
    const s = new TextStream(bytesOf, []);
    expect(s.push(4).text).toBe('');
    expect(s.push(5).text).toBe('€');
  });

  it('holds back what may start a stop sequence, and stops before it', () => {
    const s = new TextStream(bytesOf, [' world']);
    expect(s.push(0)).toEqual({ text: 'Hel', stopped: false });
    expect(s.push(1)).toEqual({ text: 'lo', stopped: false });
    expect(s.push(2)).toEqual({ text: '', stopped: false }); // " wor" may be " world"
    expect(s.push(3)).toEqual({ text: '', stopped: true });
    const t = new TextStream(bytesOf, ['lox']);
    expect(t.push(0).text).toBe('He'); // "l" may start "lox"
    expect(t.push(1).text).toBe('l'); // "lo" may too
    expect(t.push(6).text).toBe('loEN');
    expect(t.end()).toBe('');
  });
});

describe('chat pricing', () => {
  it('holds the prompt and max_tokens at the price, charges what the route processed', () => {
    expect(chatHold(10, 50, 1_000)).toBe(60_000n);
    expect(chatCharge(10, 7, 1_000)).toBe(17_000n);
  });

  it('splits the charge by layers to the base unit, each share less its fee; nothing is lost', () => {
    const { payouts, fee } = chatPayouts(17_000n, [{ provider: 'a', layers: 2 }, { provider: 'b', layers: 2 }, { provider: 'c', layers: 3 }], 250);
    expect(payouts.map((p) => p.amount + p.fee)).toEqual([4_857n, 4_857n, 7_286n]);
    expect(payouts.reduce((s, p) => s + p.amount, 0n) + fee).toBe(17_000n);
    expect(payouts[0]).toEqual({ account: 'a', amount: 4_857n - 121n, fee: 121n });
    for (const charge of [0n, 1n, 2n, 999_999_999n]) {
      const r = chatPayouts(charge, [{ provider: 'x', layers: 1 }, { provider: 'y', layers: 5 }], 333);
      expect(r.payouts.reduce((s, p) => s + p.amount, 0n) + r.fee).toBe(charge);
    }
  });
});

describe('verification by re-running', () => {
  it('finds the earliest step at which the runs differ, and its first stage that differs (where both holders had the same input)', () => {
    const same = [['a0', 'a1'], ['b0', 'b1'], ['c0', 'c1']];
    expect(firstDifference(same, same)).toBeNull();
    // The last stage lied at step 0: every stage differs at step 1 (the token fed back differs), but the dispute is stage 2, step 0.
    expect(firstDifference(same, [['a0', 'x'], ['b0', 'y'], ['z', 'w']])).toEqual({ stage: 2, step: 0 });
    expect(firstDifference(same, [['a0', 'a1'], ['b0', 'q'], ['c0', 'r']])).toEqual({ stage: 1, step: 1 });
    expect(firstDifference(same, [['a0'], ['b0'], ['c0']])).toEqual({ stage: 0, step: 1 });
  });

  it('blames the holder the tie-breaker disagrees with, and no one when it agrees with neither or both', () => {
    expect(atFault('s', 'c', 's')).toBe('check');
    expect(atFault('s', 'c', 'c')).toBe('served');
    expect(atFault('s', 'c', 't')).toBe('undecided');
    expect(atFault('s', 'c', null)).toBe('undecided');
    expect(atFault('s', 's', 's')).toBe('undecided');
  });

  it('samples the share it is told', () => {
    expect(sampledForCheck(0.0999, 1_000)).toBe(true);
    expect(sampledForCheck(0.1, 1_000)).toBe(false);
    expect(sampledForCheck(0, 0)).toBe(false);
    expect(sampledForCheck(0.9999, 10_000)).toBe(true);
  });

  it('names, as a slash’s evidence, the digest the holder at fault gave (on whichever side it ran) and the verdict it lost', () => {
    const fault: ChatFault = { manifest: 'm', stage: 1, step: 4, agentKey: 'k', provider: 'p', side: 'check', served: 'ds', check: 'dc', tieBreaker: 'ds' };
    const asCheck = chatSlashEvidence(fault);
    expect(JSON.parse(asCheck.receipt)).toEqual({ manifest: 'm', stage: 1, step: 4, agentKey: 'k', provider: 'p', digest: 'dc' });
    expect(JSON.parse(asCheck.digests)).toEqual({ manifest: 'm', stage: 1, step: 4, served: 'ds', check: 'dc', tieBreaker: 'ds' });
    expect(JSON.parse(chatSlashEvidence({ ...fault, side: 'served', tieBreaker: 'dc' }).receipt).digest).toBe('ds');
    // The same fault, the same bytes (the chain finds a proposal already made by them).
    expect(chatSlashEvidence({ ...fault })).toEqual(asCheck);
  });
});

describe('a completion’s terms', () => {
  it('asks max_tokens, or the default within the positions, and fits only a prompt and both within them', () => {
    expect(completionBudget(10, 20, 256)).toEqual({ maxTokens: 20, fits: true });
    expect(completionBudget(10, undefined, 256)).toEqual({ maxTokens: Math.min(CHAT_RULES.defaultMaxTokens, 246), fits: true });
    expect(completionBudget(250, undefined, 256)).toEqual({ maxTokens: 6, fits: true });
    expect(completionBudget(10, 247, 256).fits).toBe(false);
    expect(completionBudget(0, 5, 256).fits).toBe(false);
    expect(completionBudget(256, undefined, 256).fits).toBe(false);
  });

  it('re-runs a sampled completion only when its recorded inputs fit the bound', () => {
    expect(checkedCompletion(0, 10_000, { positions: 100, embed: 128, stages: 3 }, 32 * 1024 * 1024)).toBe(true);
    expect(checkedCompletion(0, 10_000, { positions: 4096, embed: 4096, stages: 4 }, 32 * 1024 * 1024)).toBe(false);
    expect(checkedCompletion(0.5, 1_000, { positions: 100, embed: 128, stages: 3 }, 32 * 1024 * 1024)).toBe(false);
  });

  it('gives each stage’s provider its layers', () => {
    expect(stageShares([{ from: 0, to: 1 }, { from: 2, to: 4 }], ['p', 'q'])).toEqual([{ provider: 'p', layers: 2 }, { provider: 'q', layers: 3 }]);
  });
});
